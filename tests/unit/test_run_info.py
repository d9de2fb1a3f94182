"""``legato.get_run_context()``: a frozen record of the run executing here, never the
engine's own context."""

from __future__ import annotations

import asyncio
import dataclasses
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import legato
from legato import FlowRunInfo, TaskRunInfo, flow, get_run_context, task
from legato.errors import LegatoError
from legato.schemas.deployments import DeploymentRunRequest
from legato.workers.entrypoints import load_flow
from legato.workers.execute import execute_flow_run


def flow_info() -> FlowRunInfo:
    info = get_run_context()
    assert isinstance(info, FlowRunInfo)
    return info


def task_info() -> TaskRunInfo:
    info = get_run_context()
    assert isinstance(info, TaskRunInfo)
    return info


@task(tags=["b", "a"])
def seen_by_task(x: int) -> TaskRunInfo:
    return task_info()


@flow(tags=["nightly"])
def seen_by_flow(n: int = 3) -> FlowRunInfo:
    return flow_info()


def test_get_run_context_outside_a_run_raises_a_clear_error() -> None:
    with pytest.raises(LegatoError, match="inside a @flow or @task"):
        get_run_context()


def test_run_info_is_frozen_when_user_code_assigns() -> None:
    info = seen_by_flow()
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.flow_run_id = "another"  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.parameters["n"] = 4  # type: ignore[index]


def test_flow_run_info_when_read_in_a_flow() -> None:
    state = seen_by_flow.with_options(flow_run_name="run-{n}")(5, return_state=True)
    info = state.result()
    stored = legato.get_client().read_flow_run(state.run_id)
    assert info.flow_run_id == stored.id
    assert info.flow_run_name == "run-5" == stored.name
    assert info.flow_name == "seen-by-flow" == stored.flow_name
    assert dict(info.parameters) == {"n": 5}
    assert info.run_count == 1 == stored.run_count
    assert info.tags == ("nightly",)
    assert info.scheduled_time is None
    assert info.deployment_id is None
    assert info.parent_flow_run is None


def test_parameters_are_a_copy_when_the_body_changes_its_own() -> None:
    @flow
    def changes(items: dict[str, int]) -> tuple[FlowRunInfo, FlowRunInfo]:
        before = flow_info()
        items["added"] = 1
        return before, flow_info()

    before, after = changes({"kept": 0})
    assert dict(before.parameters["items"]) == {"kept": 0, "added": 1}  # a shallow copy
    assert before.parameters is not after.parameters


def test_task_run_info_when_read_in_a_task() -> None:
    @flow
    def calls() -> tuple[FlowRunInfo, TaskRunInfo, TaskRunInfo]:
        return flow_info(), seen_by_task(1), seen_by_task.submit(2).result()

    outer, first, second = calls()
    stored = {run.id: run for run in legato.get_client().read_task_runs(outer.flow_run_id)}
    assert first.task_run_id in stored and second.task_run_id in stored
    assert (first.task_run_name, second.task_run_name) == ("seen_by_task-0", "seen_by_task-1")
    assert first.task_name == "seen_by_task"
    assert first.run_count == 1
    assert first.tags == ("a", "b")
    assert first.flow_run == outer
    assert second.flow_run.flow_run_id == outer.flow_run_id


def test_task_run_info_has_the_task_parameters() -> None:
    @flow
    def calls() -> TaskRunInfo:
        return seen_by_task(7)

    assert dict(calls().parameters) == {"x": 7}


def test_task_run_count_when_a_task_is_retried() -> None:
    counts: list[int] = []

    @task(retries=2)
    def flaky() -> None:
        counts.append(task_info().run_count)
        if len(counts) < 3:
            raise ValueError("not yet")

    @flow
    def retrying() -> None:
        flaky()

    retrying()
    assert counts == [1, 2, 3]


def test_flow_run_count_when_a_flow_is_retried() -> None:
    counts: list[int] = []

    @flow(retries=1)
    def flaky() -> None:
        counts.append(flow_info().run_count)
        if len(counts) < 2:
            raise ValueError("not yet")

    flaky()
    assert counts == [1, 2]


def test_subflow_run_info_names_its_parent_flow_run() -> None:
    @flow
    def child() -> tuple[FlowRunInfo, TaskRunInfo]:
        return flow_info(), seen_by_task(1)

    @flow
    def parent() -> tuple[FlowRunInfo, FlowRunInfo, TaskRunInfo]:
        return flow_info(), *child()

    outer, inner, in_task = parent()
    assert inner.parent_flow_run == outer
    assert inner.flow_name == "child"
    assert legato.get_client().read_flow_run(inner.flow_run_id).parent_flow_run_id == (
        outer.flow_run_id
    )
    assert in_task.flow_run == inner
    # Back in the parent, the parent is current again.
    assert outer.parent_flow_run is None


def test_run_info_when_read_in_an_async_flow_and_task() -> None:
    @task
    async def waits() -> TaskRunInfo:
        await asyncio.sleep(0)
        return task_info()

    @flow
    async def gathers() -> tuple[FlowRunInfo, list[TaskRunInfo]]:
        infos = await asyncio.gather(waits(), waits())
        return flow_info(), list(infos)

    outer, infos = asyncio.run(gathers())
    assert outer.flow_name == "gathers"
    assert {info.task_run_name for info in infos} == {"waits-0", "waits-1"}
    assert all(info.flow_run == outer for info in infos)


DEPLOYED = textwrap.dedent(
    """
    from legato import flow, get_run_context

    SEEN = []


    @flow(tags=["from-code"])
    def report(n: int = 0) -> None:
        SEEN.append(get_run_context())
    """
)


def _deployment_run(tmp_path: Path, slot: datetime) -> tuple[Any, str, list[Any]]:
    (tmp_path / "report.py").write_text(DEPLOYED)
    report = load_flow(f"{tmp_path / 'report.py'}:report")
    deployment = report.deploy("daily", tags=["nightly"], parameters={"n": 1})
    run = legato.get_client().create_deployment_run(
        deployment.id,
        DeploymentRunRequest(parameters={"n": 2}, scheduled_time=slot, tags=["asked"]),
    )
    execute_flow_run(run.id)
    seen: list[Any] = report.fn.__globals__["SEEN"]
    return deployment, run.id, seen


def test_deployment_run_info_when_a_worker_executes_it(tmp_path: Path) -> None:
    slot = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    _, run_id, seen = _deployment_run(tmp_path, slot)
    (info,) = seen
    assert info.flow_run_id == run_id
    assert info.flow_name == "report"
    assert dict(info.parameters) == {"n": 2}
    assert info.scheduled_time == slot
    assert info.run_count == 1
    assert info.parent_flow_run is None


def test_deployment_run_info_names_its_deployment_and_stored_tags(tmp_path: Path) -> None:
    deployment, run_id, seen = _deployment_run(tmp_path, datetime(2026, 3, 1, tzinfo=UTC))
    (info,) = seen
    assert info.deployment_id == deployment.id
    assert set(info.tags) == set(legato.get_client().read_flow_run(run_id).tags)
    assert "asked" in info.tags

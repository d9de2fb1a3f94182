"""The names a Prefect user types first, working as they expect: ``with tags(...)``,
``allow_failure``, ``legato.futures.wait``/``as_completed``, ``get_client()`` as a context
manager, and the import paths ``legato.tasks``, ``legato.flows``, ``legato.logging``,
``legato.task_runners``."""

from __future__ import annotations

import time

import pytest

import legato
from legato import allow_failure, flow, tags, task
from legato.futures import as_completed, wait


@task(tags=["own"])
def tagged(x: int) -> int:
    return x


@task
def fails() -> int:
    raise ValueError("upstream broke")


@task
def cleanup(value: object) -> str:
    return f"cleaned after {type(value).__name__}"


@task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_tags_block_tags_the_runs_made_inside_it() -> None:
    @flow
    def pipeline() -> None:
        tagged(1)
        with tags("etl", "nightly") as current:
            assert current == ("etl", "nightly", "outer")
            tagged(2)
            with tags("inner"):
                tagged.submit(3).result()
        tagged(4)

    with tags("outer"):
        pipeline()

    [run] = legato.get_client().read_flow_runs()
    assert run.tags == ["outer"]
    task_runs = {t.name: sorted(t.tags) for t in legato.get_client().read_task_runs(run.id)}
    assert task_runs == {
        "tagged-0": ["outer", "own"],
        "tagged-1": ["etl", "nightly", "outer", "own"],
        "tagged-2": ["etl", "inner", "nightly", "outer", "own"],
        "tagged-3": ["outer", "own"],
    }


def test_tags_refuses_what_is_not_a_tag() -> None:
    with (
        pytest.raises(TypeError, match=r"tags\(...\) takes non-empty strings, not 3"),
        tags(3),  # type: ignore[arg-type]
    ):
        pass


def test_allow_failure_runs_the_downstream_task_with_the_upstream_exception() -> None:
    @flow
    def pipeline() -> str:
        broken = fails.submit()
        return cleanup.submit(allow_failure(broken)).result()

    assert pipeline() == "cleaned after ValueError"
    [run] = legato.get_client().read_flow_runs()
    assert run.state.name == "Completed"
    states = {t.name: t.state.name for t in legato.get_client().read_task_runs(run.id)}
    assert states == {"fails-0": "Failed", "cleanup-0": "Completed"}
    shown = legato.get_client().read_task_runs(run.id)
    cleanup_run = next(t for t in shown if t.name == "cleanup-0")
    assert cleanup_run.upstream_ids == [next(t.id for t in shown if t.name == "fails-0")]


def test_without_allow_failure_the_downstream_task_does_not_run() -> None:
    @flow
    def pipeline() -> str:
        return cleanup.submit(fails.submit()).result()

    with pytest.raises(Exception):
        pipeline()
    [run] = legato.get_client().read_flow_runs()
    states = {t.name: t.state.name for t in legato.get_client().read_task_runs(run.id)}
    assert states["cleanup-0"] == "UpstreamFailed"


def test_allow_failure_takes_only_futures() -> None:
    with pytest.raises(TypeError, match=r"allow_failure\(\) takes a future"):
        allow_failure(3)  # type: ignore[arg-type]


def test_wait_returns_done_and_not_done() -> None:
    @flow
    def pipeline() -> tuple[int, int]:
        quick = [nap.submit(0) for _ in range(3)]
        slow = nap.submit(5)
        first = wait(quick, timeout=30)
        partial = wait([*quick, slow], timeout=0.05)
        slow.result()
        assert partial.not_done == {slow}
        return len(first.done), len(first.not_done)

    assert pipeline() == (3, 0)


def test_as_completed_yields_each_future_as_it_finishes() -> None:
    @flow(task_runner=legato.ThreadPoolTaskRunner(max_workers=4))
    def pipeline() -> list[float]:
        futures = [nap.submit(s) for s in (0.6, 0.0, 0.3)]
        return [future.result() for future in as_completed(futures, timeout=60)]

    assert pipeline() == [0.0, 0.3, 0.6]


def test_as_completed_times_out_naming_how_many_are_left() -> None:
    @flow
    def pipeline() -> str:
        slow = nap.submit(3)
        try:
            list(as_completed([slow], timeout=0.05))
        except TimeoutError as exc:
            slow.result()
            return str(exc)
        return "no timeout"

    assert pipeline() == "1 of 1 futures did not finish within 0.05 seconds"


def test_get_client_is_a_context_manager_that_stays_usable() -> None:
    @flow
    def one() -> int:
        return 1

    one()
    with legato.get_client() as client:
        assert [run.flow_name for run in client.read_flow_runs()] == ["one"]
    assert legato.get_client().read_flow_runs()[0].state.name == "Completed"


def test_prefect_import_paths() -> None:
    from legato.flows import flow as flow_from_flows
    from legato.logging import get_run_logger
    from legato.task_runners import ThreadPoolTaskRunner
    from legato.tasks import task as task_from_tasks

    assert flow_from_flows is legato.flow
    assert task_from_tasks is legato.task
    assert get_run_logger is legato.get_run_logger
    assert ThreadPoolTaskRunner is legato.ThreadPoolTaskRunner


@task(task_run_name="load-{table}-{day}")
def load(table: str, day: int = 1) -> str:
    return table


def test_task_run_name_templates_and_callables_name_the_runs() -> None:
    counter = iter(range(100))
    numbered = task(lambda x: x, name="numbered", task_run_name=lambda: f"n{next(counter)}")

    @flow
    def pipeline() -> None:
        load("orders")
        load.submit("users", day=2).result()
        load.map(["a", "b"])
        numbered(1)
        numbered.submit(2).result()

    pipeline()

    [run] = legato.get_client().read_flow_runs()
    names = sorted(t.name for t in legato.get_client().read_task_runs(run.id))
    assert names == ["load-a-1", "load-b-1", "load-orders-1", "load-users-2", "n0", "n1"]


def test_task_run_name_naming_no_parameter_fails_the_call_clearly() -> None:
    bad = task(lambda x: x, name="bad", task_run_name="run-{colour}")

    @flow
    def pipeline() -> None:
        bad(1)

    with pytest.raises(ValueError, match=r"names 'colour', which is not a parameter"):
        pipeline()


def test_task_run_name_must_be_text_or_a_function() -> None:
    with pytest.raises(TypeError, match="task_run_name must be a template"):
        task(lambda x: x, task_run_name=3)  # type: ignore[call-overload]

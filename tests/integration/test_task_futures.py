"""Futures and the task graph: submit, map, and the edges stored for futures passed along."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import legato
from legato import LegatoFuture, StateType, flow, task, unmapped
from legato.schemas import TaskRunInput, TaskRunRecord


def _by_name(flow_run_id: str) -> dict[str, TaskRunRecord]:
    return {t.name: t for t in legato.get_client().read_task_runs(flow_run_id)}


def test_submit_returns_future_with_result_wait_and_state_when_called_in_flow() -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    seen: dict[str, Any] = {}

    @flow
    def submitting() -> int:
        future = add.submit(1, 2)
        seen["future"] = future
        waited = future.wait()
        seen["waited"] = (waited.type, waited.name)
        seen["state"] = (future.state.type, future.state.name)
        return future.result()

    state = submitting(return_state=True)
    (task_run,) = legato.get_client().read_task_runs(state.run_id)

    assert state.result() == 3
    assert isinstance(seen["future"], LegatoFuture)
    assert seen["future"].task_run_id == task_run.id
    assert seen["waited"] == (StateType.COMPLETED, "Completed")
    assert seen["state"] == (StateType.COMPLETED, "Completed")
    assert task_run.state.name == "Completed"


def test_future_result_raises_task_exception_when_submitted_task_failed() -> None:
    @task
    def broken() -> None:
        raise KeyError("missing")

    @flow
    def observing() -> str:
        future = broken.submit()
        with pytest.raises(KeyError):
            future.result()
        return "observed"

    assert observing() == "observed"


def test_downstream_gets_value_and_edge_is_stored_when_future_is_an_argument() -> None:
    @task
    def source() -> int:
        return 5

    @task
    def sink(value: int) -> int:
        return value + 1

    @flow
    def chained() -> int:
        return sink.submit(source.submit()).result()

    state = chained(return_state=True)
    runs = _by_name(state.run_id)

    assert state.result() == 6
    assert runs["sink-0"].inputs == [
        TaskRunInput(parameter="value", upstream_id=runs["source-0"].id)
    ]
    assert runs["sink-0"].upstream_ids == [runs["source-0"].id]
    assert runs["source-0"].inputs == []


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (lambda a, b: [a, b], [1, 2]),
        (lambda a, b: (a, b), (1, 2)),
        (lambda a, b: {"a": a, "b": b}, {"a": 1, "b": 2}),
        (lambda a, b: {a, b}, {1, 2}),
        (lambda a, b: {"xs": [a, (b,)]}, {"xs": [1, (2,)]}),
    ],
    ids=["list", "tuple", "dict", "set", "nested"],
)
def test_downstream_gets_values_and_edges_when_futures_are_inside_a_container(
    container: Any, expected: Any
) -> None:
    @task
    def one() -> int:
        return 1

    @task
    def two() -> int:
        return 2

    received: list[Any] = []

    @task
    def collect(items: Any) -> None:
        received.append(items)

    @flow
    def gathering() -> None:
        collect.submit(container(one.submit(), two.submit())).result()

    state = gathering(return_state=True)
    runs = _by_name(state.run_id)

    assert received == [expected]
    assert type(received[0]) is type(expected)
    assert sorted(runs["collect-0"].inputs, key=lambda edge: edge.upstream_id) == sorted(
        [
            TaskRunInput(parameter="items", upstream_id=runs["one-0"].id),
            TaskRunInput(parameter="items", upstream_id=runs["two-0"].id),
        ],
        key=lambda edge: edge.upstream_id,
    )


def test_edge_is_stored_when_future_is_passed_to_a_direct_task_call() -> None:
    @task
    def source() -> int:
        return 5

    @task
    def sink(value: int) -> int:
        return value * 2

    @flow
    def mixed() -> int:
        return sink(value=source.submit())

    state = mixed(return_state=True)
    runs = _by_name(state.run_id)

    assert state.result() == 10
    assert runs["sink-0"].inputs == [
        TaskRunInput(parameter="value", upstream_id=runs["source-0"].id)
    ]


def test_edge_named_wait_for_is_stored_when_wait_for_is_given() -> None:
    order: list[str] = []

    @task
    def first() -> None:
        order.append("first")

    @task
    def second() -> None:
        order.append("second")

    @flow
    def ordered() -> None:
        before = first.submit()
        second.submit(wait_for=[before]).result()

    state = ordered(return_state=True)
    runs = _by_name(state.run_id)

    assert order == ["first", "second"]
    assert runs["second-0"].inputs == [
        TaskRunInput(parameter="wait_for", upstream_id=runs["first-0"].id)
    ]


def test_map_runs_one_task_run_per_item_when_given_two_lists_and_unmapped_constant() -> None:
    @task
    def combine(a: int, b: int, scale: int) -> int:
        return (a + b) * scale

    @flow
    def mapping() -> list[int]:
        return combine.map([1, 2, 3], [10, 20, 30], unmapped(2)).result()

    state = mapping(return_state=True)
    runs = legato.get_client().read_task_runs(state.run_id)

    assert state.result() == [22, 44, 66]
    assert sorted(t.name for t in runs) == ["combine-0", "combine-1", "combine-2"]
    assert all(t.state.name == "Completed" for t in runs)


def test_map_passes_list_whole_when_it_is_unmapped() -> None:
    @task
    def pick(index: int, items: list[str]) -> str:
        return items[index]

    @flow
    def picking() -> list[str]:
        return pick.map([0, 2], unmapped(["a", "b", "c"])).result()

    assert picking() == ["a", "c"]


def test_map_records_edges_when_mapping_over_futures() -> None:
    @task
    def make(i: int) -> int:
        return i

    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    def fanned() -> list[int]:
        made = make.map([1, 2])
        return inc.map(made).result()

    state = fanned(return_state=True)
    runs = _by_name(state.run_id)

    assert state.result() == [2, 3]
    assert runs["inc-0"].inputs == [TaskRunInput(parameter="x", upstream_id=runs["make-0"].id)]
    assert runs["inc-1"].inputs == [TaskRunInput(parameter="x", upstream_id=runs["make-1"].id)]


def test_map_raises_value_error_naming_both_when_lists_have_different_lengths() -> None:
    @task
    def pair(left: int, right: int) -> int:
        return left + right

    caught: list[BaseException] = []

    @flow
    def uneven() -> None:
        try:
            pair.map(left=[1, 2], right=[1, 2, 3])
        except ValueError as exc:
            caught.append(exc)

    state = uneven(return_state=True)

    assert len(caught) == 1
    message = str(caught[0])
    assert "'left'" in message and "'right'" in message
    assert "2" in message and "3" in message
    assert legato.get_client().read_task_runs(state.run_id) == []


def test_flow_fails_when_a_submitted_task_fails_and_its_result_is_never_used() -> None:
    @task
    def broken() -> None:
        raise RuntimeError("lost")

    @flow
    def careless() -> str:
        broken.submit()
        return "returned anyway"

    state = careless(return_state=True)
    record = legato.get_client().read_flow_run(state.run_id)

    assert record.state.name == "Failed"
    assert "broken-0" in (record.state.message or "")


def test_flow_waits_for_submitted_tasks_when_body_returns_before_they_finish() -> None:
    @task
    def slow() -> None:
        time.sleep(0.3)

    @flow
    def leaving() -> None:
        slow.submit()

    state = leaving(return_state=True)
    (task_run,) = legato.get_client().read_task_runs(state.run_id)

    assert state.is_completed()
    assert task_run.state.name == "Completed"
    assert task_run.end_time is not None
    assert legato.get_client().read_flow_run(state.run_id).end_time >= task_run.end_time


def test_downstream_of_a_running_task_completes_when_the_body_returns_without_waiting() -> None:
    started = threading.Event()

    @task
    def slow() -> int:
        started.set()
        time.sleep(0.3)
        return 1

    @task
    def after(x: int) -> int:
        return x + 1

    @flow
    def fire_and_forget() -> None:
        after.submit(slow.submit())
        assert started.wait(5)

    state = fire_and_forget(return_state=True)
    runs = {t.name: t for t in legato.get_client().read_task_runs(state.run_id)}
    assert state.name == "Completed"
    assert {name: run.state.name for name, run in runs.items()} == {
        "slow-0": "Completed",
        "after-0": "Completed",
    }


def test_value_returned_by_a_task_and_passed_on_draws_an_edge() -> None:
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def count(rows: list[int], limit: int) -> int:
        return min(len(rows), limit)

    @flow
    def plain_calls() -> int:
        rows = extract()
        limit = count([9], 1)  # returns a small int: shared by Python, never an edge
        return count(rows, limit=limit)

    state = plain_calls(return_state=True)
    runs = _by_name(state.run_id)
    assert runs["count-1"].inputs == [
        TaskRunInput(parameter="rows", upstream_id=runs["extract-0"].id)
    ]
    assert runs["count-0"].inputs == []

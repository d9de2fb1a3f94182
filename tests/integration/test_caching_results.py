"""Caching across flow runs and persisted results, checked against the store and the files."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import cloudpickle

import legato
from fixtures.scripts import state_names
from legato import flow, task, task_input_hash
from legato.schemas import TaskRunRecord


def _task_runs(flow_run_id: str) -> list[TaskRunRecord]:
    return legato.get_client().read_task_runs(flow_run_id)


def test_task_run_is_cached_and_body_skipped_when_second_flow_run_has_same_input() -> None:
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def squaring(x: int) -> int:
        return square(x)

    first = squaring(4, return_state=True)
    second = squaring(4, return_state=True)
    (first_run,) = _task_runs(first.run_id)
    (second_run,) = _task_runs(second.run_id)

    assert first.result() == second.result() == 16
    assert calls == [4]
    assert first_run.state.name == "Completed"
    assert second_run.state.name == "Cached"
    assert second_run.state.type is legato.StateType.COMPLETED
    assert second_run.cache_key == first_run.cache_key is not None
    assert second_run.run_count == 0
    assert state_names(second_run.id) == ["Pending", "Cached"]


def test_task_runs_again_when_second_flow_run_has_different_input() -> None:
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def squaring(x: int) -> int:
        return square(x)

    squaring(4)
    state = squaring(5, return_state=True)
    (task_run,) = _task_runs(state.run_id)

    assert state.result() == 25
    assert calls == [4, 5]
    assert task_run.state.name == "Completed"


def test_cached_result_is_reused_when_same_input_is_called_twice_in_one_flow_run() -> None:
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def twice() -> list[int]:
        return [square(3), square(3)]

    state = twice(return_state=True)
    names = sorted((t.name, t.state.name) for t in _task_runs(state.run_id))

    assert state.result() == [9, 9]
    assert calls == [3]
    assert names == [("square-0", "Completed"), ("square-1", "Cached")]


def test_task_runs_again_when_cache_expiration_has_passed() -> None:
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash, cache_expiration=timedelta(seconds=0.5))
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def squaring(x: int) -> int:
        return square(x)

    squaring(2)
    time.sleep(0.7)
    state = squaring(2, return_state=True)
    (task_run,) = _task_runs(state.run_id)

    assert calls == [2, 2]
    assert task_run.state.name == "Completed"


def test_cache_expiration_counts_from_computation_when_hits_happen_in_between() -> None:
    """A cache hit hands out the old value; it must not make that value live longer."""
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash, cache_expiration=timedelta(seconds=1.0))
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow
    def squaring(x: int) -> int:
        return square(x)

    squaring(2)  # computed at t0, valid until t0 + 1.0
    time.sleep(0.6)
    hit = squaring(2, return_state=True)  # t0 + 0.6: a hit
    time.sleep(0.6)
    late = squaring(2, return_state=True)  # t0 + 1.2: the value computed at t0 has expired

    assert _task_runs(hit.run_id)[0].state.name == "Cached"
    assert _task_runs(late.run_id)[0].state.name == "Completed"
    assert calls == [2, 2]


def test_task_runs_again_when_refresh_cache_is_set() -> None:
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def square(x: int) -> int:
        calls.append(x)
        return x * x + len(calls)  # a new value each time the body runs

    refreshing = square.with_options(refresh_cache=True)

    @flow
    def normal() -> int:
        return square(3)

    @flow
    def refresh() -> int:
        return refreshing(3)

    assert normal() == 10
    refreshed = refresh(return_state=True)
    after = normal(return_state=True)

    assert calls == [3, 3]
    assert refreshed.result() == 11
    assert _task_runs(refreshed.run_id)[0].state.name == "Completed"
    # The refreshed value is now the cached one.
    assert after.result() == 11
    assert _task_runs(after.run_id)[0].state.name == "Cached"


def test_task_is_not_cached_when_cache_key_fn_returns_none() -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda context, parameters: None)
    def uncached() -> int:
        calls.append(1)
        return 1

    @flow
    def twice() -> None:
        uncached()

    twice()
    state = twice(return_state=True)

    assert calls == [1, 1]
    assert _task_runs(state.run_id)[0].state.name == "Completed"


def test_result_file_is_written_under_legato_home_when_persist_result_is_true(
    isolated_home: Path,
) -> None:
    @task(persist_result=True)
    def produce() -> dict[str, int]:
        return {"answer": 42}

    @flow
    def persisting() -> None:
        produce()

    state = persisting(return_state=True)
    (task_run,) = _task_runs(state.run_id)

    assert task_run.result_key is not None
    path = isolated_home / "results" / task_run.result_key
    assert path.is_file(), sorted(str(p) for p in (isolated_home / "results").rglob("*"))
    assert cloudpickle.loads(path.read_bytes()) == {"answer": 42}


def test_no_result_file_is_written_when_results_are_not_persisted(isolated_home: Path) -> None:
    @task
    def produce() -> int:
        return 1

    @flow
    def transient() -> None:
        produce()

    state = transient(return_state=True)
    (task_run,) = _task_runs(state.run_id)

    assert task_run.result_key is None
    results = isolated_home / "results"
    assert not results.exists() or not any(p.is_file() for p in results.rglob("*"))


def test_cached_value_is_read_from_result_store_when_a_later_flow_run_hits(
    isolated_home: Path,
) -> None:
    """The second flow run gets the value through the result store, not process memory."""
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def make(x: int) -> list[int]:
        calls.append(x)
        return [x] * 3

    @flow
    def making(x: int) -> list[int]:
        return make(x)

    first = making(7, return_state=True)
    (first_run,) = _task_runs(first.run_id)
    assert first_run.result_key is not None
    path = isolated_home / "results" / first_run.result_key
    path.write_bytes(cloudpickle.dumps(["from", "disk"]))

    assert making(7) == ["from", "disk"]
    assert calls == [7]


def test_task_fails_naming_the_type_when_persisted_result_cannot_be_pickled() -> None:
    import threading

    @task(persist_result=True)
    def unpicklable() -> object:
        return threading.Lock()

    @flow
    def persisting() -> None:
        unpicklable()

    state = persisting(return_state=True)
    (task_run,) = _task_runs(state.run_id)

    assert task_run.state.name == "Failed"
    assert "lock" in (task_run.state.message or "").lower()
    assert task_run.result_key is None
    assert state.type is legato.StateType.FAILED

"""Futures of submitted task runs, and how task inputs that hold futures are resolved.

A future knows its task run id from the moment it is created, so a downstream
task that receives it (directly, or inside a list, tuple, dict or set) records
the edge before either has run, and waits for it before running.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from legato.states import State, StateType

T = TypeVar("T")

_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


class LegatoFuture(Generic[T]):
    """The eventual final state of a submitted task run."""

    __slots__ = ("_future", "_task_run", "observed", "task_run_id")

    def __init__(self, task_run: Any):
        self.task_run_id: str = task_run.id
        self._task_run = task_run
        self._future: concurrent.futures.Future[State] = concurrent.futures.Future()
        self.observed = False

    # -- engine side --

    def set_state(self, state: State) -> None:
        self._future.set_result(state)

    def add_done_callback(self, fn: Callable[[LegatoFuture[T]], None]) -> None:
        self._future.add_done_callback(lambda _f: fn(self))

    def done(self) -> bool:
        return self._future.done()

    # -- user side --

    @property
    def state(self) -> State:
        """The final state if the run has finished, else its current state."""
        if self._future.done():
            return self._future.result()
        return self._task_run.state  # type: ignore[no-any-return]

    def wait(self, timeout: float | None = None) -> State:
        """Block until the task run is final (or ``timeout`` passes); return its state."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            return self.state

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> T:
        """The task's return value; its exception if it failed (unless told not to raise)."""
        try:
            state = self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(
                f"task run {self._task_run.name!r} did not finish within {timeout} seconds"
            ) from None
        self.observed = True
        return state.result(raise_on_failure)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"LegatoFuture({self._task_run.name!r}, state={self.state.name})"


class FutureList(list[LegatoFuture[T]]):
    """What ``.map`` returns: a list of futures with list-wide ``result`` and ``wait``."""

    def wait(self, timeout: float | None = None) -> None:
        concurrent.futures.wait([f._future for f in self], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[T]:
        return [f.result(timeout, raise_on_failure) for f in self]


class unmapped(Generic[T]):
    """Wrap an argument of ``.map`` that is passed whole to every call, not iterated."""

    __slots__ = ("value",)

    def __init__(self, value: T):
        self.value = value


def find_futures(value: Any, found: list[LegatoFuture[Any]]) -> None:
    """Collect the futures inside ``value`` (one level of nesting per container, recursively)."""
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is LegatoFuture:
        found.append(value)
    elif kind in (list, tuple, set, frozenset) or isinstance(value, list | tuple | set):
        for item in value:
            find_futures(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            find_futures(key, found)
            find_futures(item, found)


def resolve(value: Any) -> Any:
    """``value`` with every future replaced by its result (futures must be done)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is LegatoFuture:
        value.observed = True
        return value._future.result().data
    if kind is list or kind is FutureList:
        return [resolve(v) for v in value]
    if kind is tuple:
        return tuple(resolve(v) for v in value)
    if kind is set or kind is frozenset:
        return kind(resolve(v) for v in value)
    if kind is dict:
        return {resolve(k): resolve(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return kind(*(resolve(v) for v in value))
    return value


def failed_upstreams(futures: Iterable[LegatoFuture[Any]]) -> Iterator[LegatoFuture[Any]]:
    for future in futures:
        if future._future.result().type is not StateType.COMPLETED:
            yield future

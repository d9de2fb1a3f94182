"""Futures of submitted task runs, and how task inputs that hold futures are resolved.

A future knows its task run id from the moment it is created, so a downstream
task that receives it (directly, or inside a list, tuple, dict or set) records
the edge before either has run, and waits for it before running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from legato.states import State, StateType

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


_lock = threading.Lock()  # guards the short hand-over in every future (set vs. wait)


class LegatoFuture(Generic[T]):
    """The eventual final state of a submitted task run.

    Lighter than ``concurrent.futures.Future`` (no condition variable per future):
    an event is only made when someone actually has to wait, which for a
    10,000-item map is the difference between microseconds and tens of them.
    """

    __slots__ = ("_callbacks", "_event", "_final", "_task_run", "observed", "task_run_id")

    def __init__(self, task_run: Any):
        self.task_run_id: str = task_run.id
        self._task_run = task_run
        self._final: State | None = None
        self._event: threading.Event | None = None
        self._callbacks: list[Callable[[LegatoFuture[T]], None]] | None = None
        self.observed = False

    # -- engine side --

    def set_state(self, state: State) -> None:
        with _lock:
            self._final = state
            event, callbacks = self._event, self._callbacks
            self._callbacks = None
        if event is not None:
            event.set()
        for callback in callbacks or ():
            callback(self)

    def add_done_callback(self, fn: Callable[[LegatoFuture[T]], None]) -> None:
        """Call ``fn(self)`` once the run is final (at once, here, if it already is)."""
        with _lock:
            if self._final is None:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def done(self) -> bool:
        return self._final is not None

    def final_state(self) -> State:
        """The final state; only valid once ``done()``."""
        assert self._final is not None
        return self._final

    async def wait_async(self) -> State:
        """Wait on the running event loop without blocking it."""
        if self._final is None:
            import asyncio

            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_future: LegatoFuture[T]) -> None:
                loop.call_soon_threadsafe(_resolve, waiter)

            self.add_done_callback(wake)
            await waiter
        return self.final_state()

    # -- user side --

    @property
    def state(self) -> State:
        """The final state if the run has finished, else its current state."""
        final = self._final
        return final if final is not None else self._task_run.state

    def wait(self, timeout: float | None = None) -> State:
        """Block until the task run is final (or ``timeout`` passes); return its state."""
        if self._final is None:
            with _lock:
                if self._final is None and self._event is None:
                    self._event = threading.Event()
                event = self._event
            if event is not None:
                event.wait(timeout)
        return self.state

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> T:
        """The task's return value; its exception if it failed (unless told not to raise)."""
        state = self.wait(timeout)
        if self._final is None:
            raise TimeoutError(
                f"task run {self._task_run.name!r} did not finish within {timeout} seconds"
            )
        self.observed = True
        return state.result(raise_on_failure)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"LegatoFuture({self._task_run.name!r}, state={self.state.name})"


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class FutureList(list[LegatoFuture[T]]):
    """What ``.map`` returns: a list of futures with list-wide ``result`` and ``wait``."""

    def wait(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for future in self:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            future.wait(remaining)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[T]:
        self.wait(timeout)
        return [f.result(0 if timeout is not None else None, raise_on_failure) for f in self]


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
    if kind is LegatoFuture or kind is allow_failure:
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
        return value.final_state().data
    if kind is allow_failure:
        return value.resolved()
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


def failed_upstreams(futures: Iterable[Any]) -> Iterator[LegatoFuture[Any]]:
    """The upstream futures that did not complete (one wrapped in allow_failure never
    counts)."""
    for future in futures:
        if type(future) is allow_failure:
            continue
        if future.final_state().type is not StateType.COMPLETED:
            yield future


class allow_failure(Generic[T]):
    """Pass an upstream future whose failure must not stop this task: the task waits for
    it, records the edge, and runs whatever its end; the argument is the upstream's
    result, or its exception when it failed (``isinstance(value, Exception)`` tells).

    Stands in for the future wherever the engine handles upstreams (same methods)."""

    __slots__ = ("future",)

    def __init__(self, future: LegatoFuture[T]):
        if not isinstance(future, LegatoFuture):
            raise TypeError(
                f"allow_failure() takes a future (from task.submit or task.map), "
                f"not {type(future).__name__}"
            )
        self.future = future

    @property
    def task_run_id(self) -> str:
        return self.future.task_run_id

    @property
    def observed(self) -> bool:
        return self.future.observed

    @observed.setter
    def observed(self, value: bool) -> None:
        self.future.observed = value

    def done(self) -> bool:
        return self.future.done()

    def final_state(self) -> State:
        return self.future.final_state()

    def wait(self, timeout: float | None = None) -> State:
        return self.future.wait(timeout)

    async def wait_async(self) -> State:
        return await self.future.wait_async()

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        self.future.add_done_callback(lambda _future: fn(self))

    def resolved(self) -> Any:
        """The upstream's result, or its exception (observed either way: its failure
        was allowed, so it does not fail the flow as an unobserved one would)."""
        state = self.future.final_state()
        self.future.observed = True
        if state.type is StateType.COMPLETED:
            return state.data
        if state.exception is not None:
            return state.exception
        from legato.errors import RunFailed

        return RunFailed(f"{state.name}: {state.message or 'the run did not complete'}")

    def __repr__(self) -> str:
        return f"allow_failure({self.future!r})"

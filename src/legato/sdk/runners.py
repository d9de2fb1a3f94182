"""Task runners: where submitted task runs execute.

Threads do both jobs of a runner (the engine's work and the user's call) in this
process; the process runner ships only the user's function (pickled with
cloudpickle) to a pool of processes, so state tracking stays in the flow's
process. Runners given to ``@flow(task_runner=...)`` are templates: each flow
run works on a fresh ``duplicate()``.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from legato.engine.runner import call_function
from legato.ops import RecordLog


def default_thread_count() -> int:
    # Bounded: an unbounded pool for a 10,000-item map means 10,000 threads.
    return min(32, (os.cpu_count() or 1) + 4)


class ThreadPoolTaskRunner:
    """Run submitted tasks on a bounded pool of threads (the default).

    A small pool of our own rather than ``concurrent.futures.ThreadPoolExecutor``:
    the executor makes a future (a condition variable and a lock) per submission,
    which for a 10,000-item map cost more than tracking the task runs. Threads are
    started as work arrives, up to ``max_workers``, and are daemons, so a flow run
    that gave up on a task (a timeout) never keeps the process from exiting.
    """

    def __init__(self, max_workers: int | None = None):
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers must be a whole number >= 1, got {max_workers!r}")
        self.max_workers = max_workers or default_thread_count()
        self._queue: queue.SimpleQueue[tuple[contextvars.Context, Callable[[], None]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._waiting = 0  # threads blocked on the queue (approximate; a hint for spawning)
        self._cancelled = False
        self._closed = False
        self._lock = threading.Lock()

    def duplicate(self) -> ThreadPoolTaskRunner:
        return type(self)(self.max_workers)

    def start(self) -> None:
        pass

    def submit(self, work: Callable[[], None]) -> None:
        self._queue.put((contextvars.copy_context(), work))
        if self._waiting > 0:
            return  # an idle thread will take it
        if len(self._threads) < self.max_workers:
            with self._lock:
                # Not after shutdown began: a thread started then would take a stop
                # sentinel meant for another and leave that one waiting forever.
                if len(self._threads) < self.max_workers and not self._closed:
                    thread = threading.Thread(
                        target=self._work,
                        name=f"legato-task-{len(self._threads)}",
                        daemon=True,
                    )
                    thread.start()
                    self._threads.append(thread)

    def _work(self) -> None:
        get = self._queue.get
        while True:
            self._waiting += 1
            item = get()
            self._waiting -= 1
            if item is None:
                return
            if not self._cancelled:
                context, work = item
                try:
                    context.run(work)
                except BaseException:  # the engine records its own failures; never die here
                    logging.getLogger("legato.engine").exception("task runner work failed")

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        log_target: Any,
        is_async: bool,
    ) -> Any:
        return call_function(fn, args, kwargs, is_async)

    def shutdown(self, wait: bool = True) -> None:
        """Let the threads finish what was submitted (``wait``) or drop what has not
        started, then stop them."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if not wait:
            self._cancelled = True
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_workers={self.max_workers})"


class ProcessPoolTaskRunner(ThreadPoolTaskRunner):
    """Run task bodies in worker processes (CPU-bound work, GIL-free).

    Arguments and return values cross the process boundary with cloudpickle;
    ``get_run_logger()`` inside the task works and its lines are recorded.
    """

    def __init__(self, max_workers: int | None = None):
        super().__init__(max_workers or (os.cpu_count() or 1))
        self._processes: concurrent.futures.ProcessPoolExecutor | None = None
        self._inflight: set[concurrent.futures.Future[Any]] = set()

    def duplicate(self) -> ProcessPoolTaskRunner:
        return type(self)(self.max_workers)

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        log_target: Any,
        is_async: bool,
    ) -> Any:
        import cloudpickle

        from legato.sdk import child

        with self._lock:
            if self._processes is None:
                import multiprocessing

                self._processes = concurrent.futures.ProcessPoolExecutor(
                    self.max_workers, mp_context=multiprocessing.get_context("spawn")
                )
        payload = cloudpickle.dumps((fn, args, kwargs, is_async, log_target.describe()))
        future = self._processes.submit(child.run_payload, payload)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        # Wait in short slices: a task timeout stops this thread with an exception
        # raised between bytecodes, which a single blocking wait would never see.
        while True:
            try:
                ok, value, log_rows = future.result(timeout=0.1)
                break
            except concurrent.futures.TimeoutError:
                continue
        for row in log_rows:
            log_target.enqueue(RecordLog(row))
        if ok:
            return cloudpickle.loads(value)
        raise cloudpickle.loads(value)

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        if self._processes is not None:
            if self._inflight:
                # Every task run has ended, so a body still running in a worker belongs
                # to a task that timed out: end the workers rather than let the flow run
                # wait for it. (The executor keeps its processes in a private mapping;
                # there is no public way to stop one.)
                for process in list(getattr(self._processes, "_processes", {}).values()):
                    process.terminate()
                wait = False
            self._processes.shutdown(wait=wait, cancel_futures=not wait)
            self._processes = None

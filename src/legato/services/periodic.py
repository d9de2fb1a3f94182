"""A pass function run on a daemon thread every few seconds, until stopped.

The scheduler and the reaper are each one of these: the loop, its timing and its
error handling live here once; what a pass does lives with each service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

PassResult = float | None
"""What a pass returns: seconds until the next pass if not the usual interval
(0: go on at once, e.g. while catching up), or None for the usual interval."""


class PeriodicService:
    """Calls ``run_pass()`` every ``interval`` seconds on a thread named ``name``.

    A pass that raises is logged and the next one runs on time: a database that is
    away for a moment must not end the service.
    """

    def __init__(
        self,
        name: str,
        interval: float,
        run_pass: Callable[[], PassResult],
        logger: logging.Logger,
    ):
        self.name = name
        self.interval = interval
        self._run_pass = run_pass
        self._logger = logger
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"legato-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def _run(self) -> None:
        self._logger.info("%s: started, a pass every %s s", self.name, self.interval)
        while not self._stop.is_set():
            began = time.monotonic()
            wait = self.interval
            try:
                asked = self._run_pass()
            except Exception:
                self._logger.exception("%s: the pass failed; trying again next tick", self.name)
            else:
                if asked is not None:
                    wait = asked
            self._stop.wait(max(0.0, wait - (time.monotonic() - began)))

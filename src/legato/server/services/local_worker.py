"""The worker that ``legato server start`` runs for the ``default`` pool.

It is an ordinary ``legato worker start --pool default`` child process talking to this
server over HTTP, so it behaves exactly like a worker on another machine: nothing in
the server waits on a flow run, and a flow that takes the process down takes only its
own run with it. Its output goes through a pipe and is printed line by line with a
``[worker]`` prefix, never interleaved mid-line with the server's own lines.

The child starts once the server accepts connections (its URL is known then, even for
``--port 0``), in its own session so that a Ctrl-C in the terminal reaches the server
only; the server stops it with SIGTERM before it stops serving (the worker's flow runs
report their ends to it), and on Linux the child also gets SIGTERM if the server dies
outright.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO

PREFIX = "[worker] "
DEFAULT_POOL = "default"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM this child when the thread that started it ends (the server died)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalWorker:
    """A service: the child ``legato worker start`` for ``pool`` (see the module)."""

    def __init__(
        self,
        url: Callable[[], str | None],
        *,
        pool: str = DEFAULT_POOL,
        name: str | None = None,
        env: dict[str, str] | None = None,
        grace: float = 30.0,
        out: IO[str] | None = None,
    ):
        self.url = url
        """The server's URL once it is serving (None before)."""
        self.pool = pool
        self.name = name
        self.env = env
        self.grace = grace
        self.out = out
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="legato-local-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """SIGTERM the worker (a second call sends another: running flows stop at once)
        and wait for it; SIGKILL if it outlives its grace period by far."""
        self._stop.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.grace * 2 + 10)
            except subprocess.TimeoutExpired:
                process.kill()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        url = self.url()
        while url is None:
            if self._stop.wait(0.05):
                return
            url = self.url()
        env = dict(os.environ if self.env is None else self.env)
        env["LEGATO_API_URL"] = url
        command = [sys.executable, "-m", "legato", "worker", "start", "--pool", self.pool]
        command += ["--grace", f"{self.grace:g}"]
        if self.name:
            command += ["--name", self.name]
        with self._lock:
            if self._stop.is_set():
                return
            self._process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        # This thread lives as long as the child: its end is what PDEATHSIG watches.
        stream = self._process.stdout
        assert stream is not None
        out = self.out or sys.stderr
        for line in stream:
            out.write(PREFIX + line.rstrip("\n") + "\n")
            out.flush()
        self._process.wait()
        if not self._stop.is_set():
            out.write(f"{PREFIX}the worker exited with code {self._process.returncode}\n")
            out.flush()

"""The process launcher: each flow run in its own ``python -m legato flow-run execute ID``.

The child runs in a new session, so a Ctrl-C meant for the worker does not reach
it (the worker decides when to stop its runs), and dies with the worker
(:mod:`legato.workers.launchers.lifeline`). It gets the run's attempt token, never the
worker's own API key (:func:`run_environment`). Every line the child writes is
handed to ``on_line`` with the stream it came from: ``stdout`` and ``stderr``
(the flow's own output) and ``console`` (run loggers' lines, which the child
stores itself).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

from legato.attempts import RUN_TOKEN_VARIABLE
from legato.workers.execute import CONSOLE_FD_VARIABLE
from legato.workers.launchers.lifeline import (
    LIFELINE_FD_VARIABLE,
    PARENT_PID_VARIABLE,
    Lifeline,
)

LineSink = Callable[[str, str, str], None]
"""``on_line(flow_run_id, stream, text)``."""

WORKER_CREDENTIALS = ("LEGATO_API_KEY",)
"""The worker's own credentials: never handed to a run's process (it gets its run's token)."""


def run_environment(base: Mapping[str, str], token: str | None) -> dict[str, str]:
    """The environment of a run's process: the worker's, less the worker's own key, plus
    the run's attempt token (its fencing token and, against a server, its only
    credential: scoped to that run, void once the run ends or is taken back)."""
    # Empty rather than absent: the environment wins over config.toml, so a key kept
    # there is not what the run's settings say either.
    env = {**base, **dict.fromkeys(WORKER_CREDENTIALS, "")}
    env.pop(RUN_TOKEN_VARIABLE, None)
    if token is not None:
        env[RUN_TOKEN_VARIABLE] = token
    return env


@dataclass
class LaunchedRun:
    """One flow run's process, and the threads reading its output."""

    flow_run_id: str
    process: subprocess.Popen[bytes]
    readers: list[threading.Thread] = field(default_factory=list)
    signalled: str | None = None
    """Why the worker signalled it (its stop), if it did."""

    def exit_code(self) -> int | None:
        return self.process.poll()

    def wait_for_output(self, timeout: float = 10.0) -> None:
        """Wait until every line the process wrote has been handed on."""
        for reader in self.readers:
            reader.join(timeout)

    def signal(self, signum: int, reason: str) -> None:
        if self.process.poll() is None:
            self.signalled = reason
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def terminate(self, reason: str) -> None:
        self.signal(signal.SIGTERM, reason)

    def kill(self, reason: str) -> None:
        self.signal(signal.SIGKILL, reason)


class ProcessLauncher:
    """Starts flow runs as subprocesses of this worker, with ``env`` over its environment."""

    def __init__(self, env: Mapping[str, str], on_line: LineSink):
        self.env = dict(env)
        self.on_line = on_line
        self.lifeline = Lifeline()

    def command(self, flow_run_id: str) -> list[str]:
        return [sys.executable, "-m", "legato", "flow-run", "execute", flow_run_id]

    def launch(self, flow_run_id: str, token: str | None = None) -> LaunchedRun:
        console_read, console_write = os.pipe()
        env = run_environment({**os.environ, **self.env}, token)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                CONSOLE_FD_VARIABLE: str(console_write),
                PARENT_PID_VARIABLE: str(os.getpid()),
                LIFELINE_FD_VARIABLE: str(self.lifeline.read_fd),
            }
        )
        try:
            process = subprocess.Popen(
                self.command(flow_run_id),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                pass_fds=(console_write, self.lifeline.read_fd),
                start_new_session=True,
            )
        except BaseException:
            os.close(console_read)
            raise
        finally:
            os.close(console_write)
        launched = LaunchedRun(flow_run_id, process)
        assert process.stdout is not None and process.stderr is not None
        streams: list[tuple[IO[bytes], str]] = [
            (process.stdout, "stdout"),
            (process.stderr, "stderr"),
            (os.fdopen(console_read, "rb"), "console"),
        ]
        for stream, name in streams:
            reader = threading.Thread(
                target=self._read,
                args=(flow_run_id, stream, name),
                name=f"legato-worker-{name}-{flow_run_id[:8]}",
                daemon=True,
            )
            reader.start()
            launched.readers.append(reader)
        return launched

    def close(self) -> None:
        """Nothing to stop: each run's process is its own."""

    def _read(self, flow_run_id: str, stream: IO[bytes], name: str) -> None:
        with stream:
            for raw in stream:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self.on_line(flow_run_id, name, text)

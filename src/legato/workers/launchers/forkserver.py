"""The fork launcher: flow runs forked from a process that has imported legato already.

Starting ``python -m legato flow-run execute ID`` costs an interpreter and the imports
of legato, SQLAlchemy, httpx and pydantic for every run: a few hundred milliseconds of
CPU, which caps a two-core machine at a few runs a second. Here the worker starts one
*zygote* (``python -m legato.workers.launchers.forkserver FD``) that imports all that
once and then, for each run, forks a child that runs it exactly as ``flow-run
execute`` would. The zygote is single-threaded and creates no orchestrator, client or
database connection before forking: the child makes its own.

The zygote dies with the worker, and each forked run with the zygote
(:mod:`legato.workers.launchers.lifeline`), so no run outlives a killed worker.

The worker and the zygote talk over a Unix ``SOCK_SEQPACKET`` pair. For each run the
worker sends ``run ID TOKEN`` (the claim's attempt token, put in the child's
environment only) with the write ends of three pipes (stdout, stderr, and the
run loggers' console), which the child gets as its descriptors 1 and 2 and
``LEGATO_WORKER_CONSOLE_FD``; the zygote answers ``started ID PID`` and, when the
child ends, ``exited PID CODE`` (negative: killed by that signal). Each child runs in
its own session, like the process launcher's, and the worker signals its pid directly
to cancel it. If the zygote dies, its runs are reported ended once their pids are gone,
and the next launch starts a new zygote.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

from legato.workers.launchers.lifeline import (
    PARENT_PID_VARIABLE,
    die_with_launcher,
    die_with_parent,
)
from legato.workers.launchers.process import LineSink, run_environment

MESSAGE_SIZE = 4096
LOST_ZYGOTE_EXIT = 255
"""Exit code reported for a run whose zygote died before telling how the run ended."""
PRELOAD = (
    "legato",
    "legato.cli.output",
    "legato.orchestrator.client",
    "legato.orchestrator.default",
    "legato.orchestrator.local",
    "legato.sdk.flows",
    "legato.sdk.logging",
    "legato.settings",
    "legato.store",
    "legato.workers.entrypoints",
    "legato.workers.execute",
)
"""What every run would import anyway: imported once, in the zygote."""


@dataclass
class ForkedRun:
    """One forked flow run: its pid, and the threads reading its output."""

    flow_run_id: str
    pid: int
    launcher: ForkServerLauncher
    readers: list[threading.Thread] = field(default_factory=list)
    signalled: str | None = None
    code: int | None = None

    def exit_code(self) -> int | None:
        if self.code is None and self.launcher.zygote_lost():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.code = LOST_ZYGOTE_EXIT
            except PermissionError:
                pass
        return self.code

    def wait_for_output(self, timeout: float = 10.0) -> None:
        for reader in self.readers:
            reader.join(timeout)

    def signal(self, signum: int, reason: str) -> None:
        if self.code is None:
            self.signalled = reason
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self, reason: str) -> None:
        self.signal(signal.SIGTERM, reason)

    def kill(self, reason: str) -> None:
        self.signal(signal.SIGKILL, reason)


class ForkServerLauncher:
    """Forks flow runs from a zygote started with ``env`` over this process's environment."""

    def __init__(self, env: Mapping[str, str], on_line: LineSink, *, start_timeout: float = 60.0):
        self.env = dict(env)
        self.on_line = on_line
        self.start_timeout = start_timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._listener: threading.Thread | None = None
        self._started: dict[str, tuple[threading.Event, list[int]]] = {}
        self._by_pid: dict[int, ForkedRun] = {}
        self._early_exits: dict[int, int] = {}
        self._lost = False

    # -- the zygote ------------------------------------------------------------------

    def start(self) -> None:
        """Start the zygote and wait until it has imported legato (OSError if it cannot)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._zygote is not None and self._zygote.poll() is None and not self._lost:
            return
        self._close_locked()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # What every forked run inherits: no worker key (each run gets its own token).
        env = run_environment({**os.environ, **self.env}, None)
        env.update({"PYTHONUNBUFFERED": "1", PARENT_PID_VARIABLE: str(os.getpid())})
        try:
            zygote = subprocess.Popen(
                [sys.executable, "-m", "legato.workers.launchers.forkserver", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                env=env,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(self.start_timeout)
        try:
            hello = ours.recv(MESSAGE_SIZE)
        except OSError as exc:
            zygote.kill()
            zygote.wait()
            ours.close()
            raise OSError(f"the fork server did not start: {exc}") from exc
        if hello != b"ready":
            zygote.kill()
            zygote.wait()
            ours.close()
            raise OSError(f"the fork server did not start (it exited with {zygote.poll()})")
        ours.settimeout(None)
        self._sock, self._zygote, self._lost = ours, zygote, False
        self._listener = threading.Thread(
            target=self._listen, args=(ours,), name="legato-forkserver", daemon=True
        )
        self._listener.start()

    def zygote_lost(self) -> bool:
        return self._lost

    def _listen(self, sock: socket.socket) -> None:
        """Hand out the zygote's answers: pids of started runs, exit codes of ended ones."""
        while True:
            try:
                data = sock.recv(MESSAGE_SIZE)
            except OSError:
                data = b""
            if not data:
                self._lost = True
                for waiter, _ in list(self._started.values()):
                    waiter.set()  # launch() sees no pid and fails
                return
            kind, first, second = data.decode().split(" ")
            if kind == "started":
                entry = self._started.get(first)
                if entry is not None:
                    entry[1].append(int(second))
                    entry[0].set()
            elif kind == "exited":
                pid, code = int(first), int(second)
                with self._lock:
                    run = self._by_pid.pop(pid, None)
                    if run is None:
                        self._early_exits[pid] = code
                if run is not None:
                    run.code = code

    # -- runs ------------------------------------------------------------------------

    def launch(self, flow_run_id: str, token: str | None = None) -> ForkedRun:
        pipes = [os.pipe() for _ in range(3)]
        try:
            with self._lock:
                self._start_locked()
                sock = self._sock
                assert sock is not None
                waiter: tuple[threading.Event, list[int]] = (threading.Event(), [])
                self._started[flow_run_id] = waiter
            try:
                request = f"run {flow_run_id}" if token is None else f"run {flow_run_id} {token}"
                socket.send_fds(sock, [request.encode()], [w for _, w in pipes])
            except OSError:
                self._lost = True
                raise
            finally:
                for _, write_end in pipes:
                    os.close(write_end)
            if not waiter[0].wait(self.start_timeout) or not waiter[1]:
                raise OSError("the fork server did not start the run (it ended or hung)")
        except BaseException:
            self._started.pop(flow_run_id, None)
            for read_end, _ in pipes:
                os.close(read_end)
            raise
        self._started.pop(flow_run_id, None)
        pid = waiter[1][0]
        run = ForkedRun(flow_run_id, pid, self)
        with self._lock:
            early = self._early_exits.pop(pid, None)
            if early is None:
                self._by_pid[pid] = run
            else:
                run.code = early
        for (read_end, _), name in zip(pipes, ("stdout", "stderr", "console"), strict=True):
            reader = threading.Thread(
                target=self._read,
                args=(flow_run_id, os.fdopen(read_end, "rb"), name),
                name=f"legato-worker-{name}-{flow_run_id[:8]}",
                daemon=True,
            )
            reader.start()
            run.readers.append(reader)
        return run

    def _read(self, flow_run_id: str, stream: IO[bytes], name: str) -> None:
        with stream:
            for raw in stream:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self.on_line(flow_run_id, name, text)

    def close(self) -> None:
        """Stop the zygote (runs it forked go on; the worker ends those itself)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._zygote is not None:
            try:
                self._zygote.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait()
            self._zygote = None


def fork_launcher_works(env: Mapping[str, str], on_line: LineSink) -> ForkServerLauncher | None:
    """A started fork launcher, or None where forking is unavailable or the zygote fails."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "send_fds"):
        return None
    launcher = ForkServerLauncher(env, on_line)
    try:
        launcher.start()
    except OSError:
        return None
    return launcher


# -- inside the zygote ---------------------------------------------------------------


def serve(fd: int) -> None:
    """The zygote's loop: fork a child per ``run`` request; report each child's end."""
    import importlib

    die_with_launcher()  # the worker's death ends this process, and so every run below
    for name in PRELOAD:
        importlib.import_module(name)
    sock = socket.socket(fileno=fd)
    zygote = os.getpid()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when runs stop
    signal.set_wakeup_fd(wake_write)
    sock.send(b"ready")
    children: set[int] = set()
    open_socket = True
    while open_socket or children:
        watched = [wake_read, sock.fileno()] if open_socket else [wake_read]
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select(watched, [], [], 1.0)
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)
        if open_socket and sock.fileno() in ready:
            try:
                message, fds, _, _ = socket.recv_fds(sock, MESSAGE_SIZE, 3)
            except OSError:
                message, fds = b"", []
            if not message:
                open_socket = False  # the worker is gone; wait for the running children
            else:
                _, flow_run_id, *token = message.decode().split(" ")
                pid = os.fork()
                if pid == 0:
                    die_with_parent(zygote)
                    os.close(wake_read)
                    os.close(wake_write)
                    _child(sock, flow_run_id, token[0] if token else None, fds)  # no return
                for descriptor in fds:
                    os.close(descriptor)
                children.add(pid)
                _send(sock, f"started {flow_run_id} {pid}")
        _reap(sock if open_socket else None, children)


def _reap(sock: socket.socket | None, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)
        if sock is not None:
            _send(sock, f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def _send(sock: socket.socket, text: str) -> None:
    with contextlib.suppress(OSError):
        sock.send(text.encode())


def _child(sock: socket.socket, flow_run_id: str, token: str | None, fds: list[int]) -> None:
    """In the forked child: become what ``flow-run execute ID`` would be, run, exit."""
    code = 1
    try:
        sock.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()
        stdout, stderr, console = fds
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        for descriptor in (devnull, stdout, stderr):
            os.close(descriptor)
        from legato.attempts import RUN_TOKEN_VARIABLE
        from legato.workers.execute import CONSOLE_FD_VARIABLE

        os.environ[CONSOLE_FD_VARIABLE] = str(console)
        if token is not None:
            os.environ[RUN_TOKEN_VARIABLE] = token
        code = _execute(flow_run_id)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        _exit_child(code)


def _execute(flow_run_id: str) -> int:
    from legato.errors import LegatoError
    from legato.states import StateType
    from legato.workers.execute import execute_flow_run, route_run_console_to_worker

    route_run_console_to_worker()
    try:
        state = execute_flow_run(flow_run_id)
    except (LegatoError, ValueError) as exc:
        one_line = " ".join((str(exc) or type(exc).__name__).split())
        print(f"error: {one_line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if state.type is StateType.COMPLETED else 1


def _exit_child(code: int) -> None:
    """Run the exit hooks (the orchestrator's last flush) and leave without returning into
    the zygote's loop."""
    import atexit

    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":  # pragma: no cover - run as the zygote
    serve(int(sys.argv[1]))

"""The worker loop: claim due runs of one pool, launch them, heartbeat, reap, stop cleanly.

A claimer thread takes as many due runs as there are free slots and hands them
to the main thread. Against a server it asks with a long poll (``claim_wait``):
the server answers as soon as a run of the pool falls due, so a triggered run
starts at once; the embedded store is polled every ``poll_interval`` seconds. The
main thread launches the claimed runs, reaps children that ended (a run its
process left unfinished is marked Crashed with the exit code), heartbeats the
runs it holds every ``heartbeat_interval`` seconds, and in between reads their states
every ``cancel_check_interval`` (half a second): a run found Cancelling is stopped at
once (SIGTERM, then SIGKILL after ``grace_seconds``). It ticks every
``TICK`` seconds while children run, so a finished child frees its slot at once. ``stop()`` (SIGTERM or SIGINT in ``legato worker start``)
ends claiming; running children get ``grace_seconds`` to finish before they are
terminated. A failure to reach the server is reported and retried on the next
tick, never fatal.

Each claimed run comes with its attempt token (:mod:`legato.store.run_tokens`); the
launcher hands it to the run's process, in place of the worker's own API key, as the
process's fencing token and only credential. The worker's own writes (giving back a run
it did not start, ending a cancelled one) carry no token: they take the run back.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from legato.errors import LegatoError
from legato.ops import RecordLog
from legato.orchestrator.protocol import WorkerBackend
from legato.schemas.claims import ClaimedFlowRun
from legato.states import TERMINAL_TYPES, State, StateType
from legato.workers.execute import EXIT_TAKEN_BACK
from legato.workers.launchers import Launcher, RunHandle
from legato.workers.launchers.process import ProcessLauncher

STREAM_LEVELS = {"stdout": "INFO", "stderr": "WARNING"}
"""Streams whose lines are stored as log lines of the run, at this level."""
WORKER_LOGGER = "legato.worker"

Say = Callable[[str], None]
TICK = 0.02
"""Seconds between the main thread's looks at running children."""
LAUNCHERS = ("auto", "process", "fork")

TERMINAL_VALUES = frozenset(state.value for state in TERMINAL_TYPES)
FINAL_LINGER = 5.0
"""Seconds a flow-run process may outlive its run's final state (it reported the state,
then exits); past that it is killed as no longer the worker's."""


@dataclass(frozen=True)
class WorkerOptions:
    pool: str
    name: str
    limit: int = 10
    poll_interval: float = 2.0
    heartbeat_interval: float = 10.0
    grace_seconds: float = 30.0
    claim_wait: float = 0.0
    """Seconds a claim may wait on the server for a due run (0: poll instead)."""
    cancel_check_interval: float = 0.5
    """Seconds between looks (a read, no write) for cancels of the runs the worker holds:
    a cancel is carried out this soon, not at the next heartbeat."""
    launcher: str = "process"
    """``process``, ``fork`` (Linux), or ``auto``: fork where it works, else process."""


def exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    if code == EXIT_TAKEN_BACK:
        return f"exited with code {code} (its run was taken back from it)"
    return f"exited with code {code}"


class Worker:
    """Runs due flow runs of ``options.pool`` through ``orchestrator`` (see the module)."""

    def __init__(
        self,
        orchestrator: WorkerBackend,
        options: WorkerOptions,
        *,
        env: dict[str, str] | None = None,
        say: Say = print,
        echo: Say = print,
    ):
        self.orch = orchestrator
        self.options = options
        self.say = say
        self.echo = echo
        self.launcher, self.launcher_name = choose_launcher(
            options.launcher, env or {}, self._on_line
        )
        self.running: dict[str, RunHandle] = {}
        self.names: dict[str, str] = {}
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        self._echo_lock = threading.Lock()
        self._cancel_deadlines: dict[str, float] = {}
        self._final_since: dict[str, float] = {}  # runs final in the store, process alive
        self._wake = threading.Event()
        self._slot_freed = threading.Event()
        self._claim_lock = threading.Lock()
        self._claimed: list[ClaimedFlowRun] = []
        self._held = 0
        """Runs claimed and not yet reaped (what the claimer counts against the limit)."""

    # -- control -------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; a second call skips the grace period for running children."""
        if self._stopping.is_set():
            self._hurry.set()
        self._stopping.set()
        self._wake.set()
        self._slot_freed.set()

    def run(self) -> None:
        """Claim and run until ``stop()``; then wait for (or end) the running children."""
        options = self.options
        waking = "woken by the server" if options.claim_wait > 0 else "polling"
        self.say(
            f"Worker {options.name!r} started: pool {options.pool!r}, up to {options.limit} "
            f"run(s) at once, {waking} every {options.poll_interval:g}s at most, "
            f"{self.launcher_name} launcher"
        )
        self._announce("started")
        claimer = threading.Thread(target=self._claim_loop, name="legato-claimer", daemon=True)
        claimer.start()
        next_beat = time.monotonic() + options.heartbeat_interval
        next_look = time.monotonic() + options.cancel_check_interval
        try:
            while not self._stopping.is_set():
                try:
                    self._launch_claimed()
                    held = len(self.running)
                    self._reap()
                    self._release(held - len(self.running))
                    now = time.monotonic()
                    if now >= next_beat:
                        next_beat = now + options.heartbeat_interval
                        next_look = now + options.cancel_check_interval
                        self._heartbeat()
                    elif now >= next_look:
                        next_look = now + options.cancel_check_interval
                        self._look_for_cancels()
                    self._enforce_cancels()
                except LegatoError as exc:
                    self.say(f"Worker {options.name!r}: {exc} (trying again)")
                self._wake.wait(TICK if self.running else options.poll_interval)
                self._wake.clear()
            self._launch_claimed()  # claimed before the stop: ours to run or end
            self._drain()
            self._give_back(claimer)
        finally:
            self.launcher.close()
        self._announce("stopped")
        self.say(f"Worker {options.name!r} stopped")

    def _announce(self, status: str) -> None:
        """The worker's start or stop as an event; a server that cannot take it does not
        stop the worker."""
        try:
            self.orch.announce_worker(self.options.name, self.options.pool, status)
        except LegatoError as exc:
            self.say(f"Worker {self.options.name!r}: could not record that it {status}: {exc}")

    # -- one tick ------------------------------------------------------------------

    def _claim_loop(self) -> None:
        """The claimer thread: keep the free slots filled (see the module)."""
        options = self.options
        while not self._stopping.is_set():
            with self._claim_lock:
                free = options.limit - self._held
            if free <= 0:
                self._slot_freed.wait(options.poll_interval)
                self._slot_freed.clear()
                continue
            try:
                records = self.orch.claim_flow_runs(
                    options.pool, options.name, free, wait=options.claim_wait
                )
            except LegatoError as exc:
                self.say(f"Worker {options.name!r}: {exc} (trying again)")
                self._stopping.wait(options.poll_interval)
                continue
            except Exception as exc:  # never let claiming stop for good
                self.say(f"Worker {options.name!r}: claiming failed: {exc!r} (trying again)")
                self._stopping.wait(options.poll_interval)
                continue
            if records:
                with self._claim_lock:
                    self._claimed.extend(records)
                    self._held += len(records)
                self._wake.set()
            elif options.claim_wait <= 0:
                self._stopping.wait(options.poll_interval)

    def _launch_claimed(self) -> None:
        with self._claim_lock:
            records, self._claimed = self._claimed, []
        for record in records:
            self.say(f"Claimed flow run {record.name!r} ({record.id}) of flow {record.flow_name!r}")
            self.names[record.id] = record.name
            try:
                self.running[record.id] = self.launcher.launch(record.id, record.token)
            except OSError as exc:
                self._release(1)
                self._end_unfinished(record.id, f"the worker could not start it: {exc}")

    def _release(self, slots: int) -> None:
        if slots > 0:
            with self._claim_lock:
                self._held -= slots
            self._slot_freed.set()

    def _give_back(self, claimer: threading.Thread) -> None:
        """Runs the claimer got after the worker had drained go back to Scheduled, for
        another worker (a claim still waiting on the server ends with the connection)."""
        claimer.join(timeout=0.5)
        with self._claim_lock:
            records, self._claimed = self._claimed, []
        for record in records:
            now = time.time()
            state = State(
                StateType.SCHEDULED, "Scheduled", "its worker stopped before starting it", now
            )
            try:
                self.orch.set_flow_run_state(record.id, state)
                self.orch.flush()
            except LegatoError as exc:
                self.say(f"Worker {self.options.name!r}: {exc}")

    def _reap(self) -> None:
        for flow_run_id, launched in list(self.running.items()):
            code = launched.exit_code()
            if code is None:
                continue
            launched.wait_for_output()
            del self.running[flow_run_id]
            self._cancel_deadlines.pop(flow_run_id, None)
            self._final_since.pop(flow_run_id, None)
            self.orch.flush()  # the lines read off the process are stored before its end
            detail = exit_description(code)
            if launched.signalled:
                detail = f"{detail} ({launched.signalled})"
            self.say(f"Flow run {self.names.pop(flow_run_id, flow_run_id)!r} process {detail}")
            self._end_unfinished(flow_run_id, f"the flow-run process {detail}")

    def _end_unfinished(self, flow_run_id: str, detail: str) -> None:
        """A run whose process is gone must not stay Pending or Running forever: Cancelled
        if a cancel was asked for, else Crashed, saying how the process ended (and back to
        Scheduled when its deployment's retries allow: the server decides, as its reaper
        does for a dead worker)."""
        record = self.orch.read_flow_run(flow_run_id)
        state_type = StateType(record.state.type)
        if state_type in TERMINAL_TYPES or record.worker_name != self.options.name:
            return  # ended, or taken back by the server (another worker may hold it now)
        if state_type is StateType.CANCELLING:
            now = time.time()
            state = State(StateType.CANCELLED, "Cancelled", f"cancelled: {detail}", now)
            self.orch.set_flow_run_state(flow_run_id, state, fields={"end_time": now})
            return
        ended = self.orch.crash_flow_run(
            flow_run_id, f"{detail} before the run ended", self.options.name
        )
        if ended == "AwaitingRetry":
            self.say(f"Flow run {record.name!r} crashed; it is scheduled again for a retry")

    def _heartbeat(self) -> None:
        if self.running:
            self._act_on(self.orch.heartbeat(list(self.running), self.options.name))

    def _look_for_cancels(self) -> None:
        """Between heartbeats: the same answer, read without writing, acted on the same
        way (a Cancelling run is stopped now, not at the next heartbeat)."""
        if self.running:
            self._act_on(self.orch.held_states(list(self.running), self.options.name))

    def _act_on(self, states: dict[str, str]) -> None:
        """Stop the running children whose runs the answer says are being cancelled, and
        kill those no longer held by this worker (see ``heartbeat``)."""
        now = time.monotonic()
        for flow_run_id, launched in list(self.running.items()):
            state_type = states.get(flow_run_id)
            if flow_run_id in self._cancel_deadlines:
                continue
            name = self.names.get(flow_run_id, flow_run_id)
            if state_type is None or (
                state_type in TERMINAL_VALUES
                and now - self._final_since.setdefault(flow_run_id, now) >= FINAL_LINGER
            ):
                # Not ours any more (the server took it back: this worker's heartbeats did
                # not reach it in time, and it may run elsewhere now), or final for a while
                # with its process still alive (crashed by the server's reaper). SIGKILL,
                # not SIGTERM: a terminated flow reports itself Crashed, which would land
                # on whatever the run is now.
                self.say(f"Flow run {name!r} is no longer held by this worker; killing it")
                launched.kill("no longer held by this worker")
            elif state_type == StateType.CANCELLING.value:
                self.say(f"Cancelling flow run {name!r}")
                launched.terminate("cancelled")
            else:
                continue
            self._cancel_deadlines[flow_run_id] = now + self.options.grace_seconds

    def _enforce_cancels(self) -> None:
        now = time.monotonic()
        for flow_run_id, deadline in list(self._cancel_deadlines.items()):
            launched = self.running.get(flow_run_id)
            if launched is not None and now >= deadline and launched.exit_code() is None:
                launched.kill("cancelled; it did not stop within the grace period")

    def _drain(self) -> None:
        """After stop(): let running children finish within the grace period, then end them."""
        if self.running:
            self.say(
                f"Waiting up to {self.options.grace_seconds:g}s for {len(self.running)} "
                "running flow run(s)"
            )
        deadline = time.monotonic() + self.options.grace_seconds
        terminated = False
        while self.running:
            try:
                self._reap()
            except LegatoError as exc:
                self.say(f"Worker {self.options.name!r}: {exc}")
            if not self.running:
                break
            now = time.monotonic()
            if not terminated and (now >= deadline or self._hurry.is_set()):
                for launched in self.running.values():
                    launched.terminate("the worker was stopping")
                terminated, deadline = True, now + self.options.grace_seconds
            elif terminated and now >= deadline:
                for launched in self.running.values():
                    launched.kill("the worker was stopping")
            time.sleep(0.05)
        try:
            self.orch.flush()
        except LegatoError as exc:
            self.say(f"Worker {self.options.name!r}: {exc}")

    # -- output of the children ------------------------------------------------------

    def _on_line(self, flow_run_id: str, stream: str, text: str) -> None:
        level = STREAM_LEVELS.get(stream)
        if level is not None:
            row: dict[str, Any] = {
                "flow_run_id": flow_run_id,
                "task_run_id": None,
                "timestamp": time.time(),
                "level": level,
                "logger": f"{WORKER_LOGGER}.{stream}",
                "message": text,
            }
            self.orch.enqueue(RecordLog(row))
        with self._echo_lock:
            self.echo(text)


def choose_launcher(
    kind: str, env: dict[str, str], on_line: Callable[[str, str, str], None]
) -> tuple[Launcher, str]:
    """The launcher named ``kind`` and the name it goes by; ``auto`` is ``fork`` where the
    fork server starts (Linux), else ``process``."""
    if kind not in LAUNCHERS:
        raise LegatoError(f"unknown launcher {kind!r}: use one of {', '.join(LAUNCHERS)}")
    if kind in ("auto", "fork"):
        from legato.workers.launchers.forkserver import fork_launcher_works

        forked = fork_launcher_works(env, on_line)
        if forked is not None:
            return forked, "fork"
        if kind == "fork":
            raise LegatoError(
                "the fork launcher cannot start here (it needs Linux); use --launcher process"
            )
    return ProcessLauncher(env, on_line), "process"

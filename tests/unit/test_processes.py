"""Telling whether the process of a local flow run is gone: the pure decision, and the
look-up of a real process's start time (this process, a live child, a zombie, a reaped
child) checked against psutil's."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

import psutil
import pytest

from legato.processes import (
    START_TOLERANCE,
    ProcessIdentity,
    gone_reason,
    process_start_time,
    this_process,
)

HOST = "box-1"
STARTED = 1_900_000_000.0


def local_run(**columns: Any) -> dict[str, Any]:
    row = {
        "state_type": "RUNNING",
        "worker_name": None,
        "process_host": HOST,
        "process_pid": 4242,
        "process_started": STARTED,
    }
    row.update(columns)
    return row


def lookup(found: dict[int, float]) -> Any:
    return found.get


def test_gone_reason_names_pid_and_host_when_no_process_has_the_pid() -> None:
    reason = gone_reason(local_run(), HOST, lookup({}))
    assert reason == "the process that ran it (pid 4242 on box-1) is gone"


def test_gone_reason_is_none_when_the_process_is_alive() -> None:
    assert gone_reason(local_run(), HOST, lookup({4242: STARTED + 0.01})) is None


def test_gone_reason_detects_a_recycled_pid_when_its_start_time_differs() -> None:
    reason = gone_reason(local_run(), HOST, lookup({4242: STARTED + 3600}))
    assert reason is not None
    assert "(pid 4242 on box-1) is gone" in reason
    assert "another process" in reason


def test_gone_reason_tolerates_a_start_time_read_within_the_tolerance() -> None:
    near = STARTED + START_TOLERANCE / 2
    assert gone_reason(local_run(), HOST, lookup({4242: near})) is None


def test_gone_reason_is_none_when_the_start_time_cannot_be_read() -> None:
    assert gone_reason(local_run(), HOST, lookup({4242: math.nan})) is None


@pytest.mark.parametrize(
    "columns",
    [
        {"process_host": "other-box"},
        {"worker_name": "w1"},
        {"state_type": "COMPLETED"},
        {"state_type": "CRASHED"},
        {"process_pid": None},
        {"process_started": None},
        {"process_host": None},
    ],
    ids=["other-host", "worker", "completed", "crashed", "no-pid", "no-start", "no-host"],
)
def test_gone_reason_never_judges_a_run_that_is_not_an_unfinished_local_run_of_this_host(
    columns: dict[str, Any],
) -> None:
    def never(pid: int) -> float | None:
        raise AssertionError(f"looked up pid {pid}")

    assert gone_reason(local_run(**columns), HOST, never) is None


@pytest.mark.parametrize("state_type", ["SCHEDULED", "PENDING", "RUNNING", "CANCELLING", "PAUSED"])
def test_gone_reason_judges_every_unfinished_state(state_type: str) -> None:
    assert gone_reason(local_run(state_type=state_type), HOST, lookup({})) is not None


def test_this_process_reads_the_same_start_time_as_psutil() -> None:
    me = this_process()
    assert me.pid == os.getpid()
    assert abs(me.started - psutil.Process().create_time()) < START_TOLERANCE
    assert me.fields() == {
        "process_host": me.host,
        "process_pid": me.pid,
        "process_started": me.started,
    }
    assert isinstance(me, ProcessIdentity)


def test_process_start_time_of_a_live_child_matches_psutil_and_is_none_once_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start_time(child.pid)
        assert started is not None
        assert abs(started - psutil.Process(child.pid).create_time()) < START_TOLERANCE
    finally:
        child.kill()
    # Killed but not reaped: a zombie, which runs nothing any more.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
    assert process_start_time(child.pid) is None
    child.wait(timeout=30)
    assert process_start_time(child.pid) is None


def test_process_start_time_is_none_for_pids_that_cannot_exist() -> None:
    assert process_start_time(0) is None
    assert process_start_time(-5) is None

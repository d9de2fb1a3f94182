"""The pure rules of events: wildcard patterns, and
the event a state change becomes."""

from __future__ import annotations

import dataclasses
import time

import pytest

from legato.event_rules.patterns import (
    MAX_WILDCARDS,
    PatternError,
    check_pattern,
    literal_prefix,
    matches,
)
from legato.event_rules.state_events import StoredState, state_event


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("legato.flow-run.Failed", "legato.flow-run.Failed", True),
        ("legato.flow-run.Failed", "legato.flow-run.Failed2", False),
        ("legato.flow-run.*", "legato.flow-run.Failed", True),
        ("legato.flow-run.*", "legato.flow-run.", True),
        ("legato.flow-run.*", "legato.task-run.Failed", False),
        ("*.Failed", "legato.task-run.Failed", True),
        ("*.Failed", "legato.task-run.Completed", False),
        ("legato.*.Failed", "legato.flow-run.Failed", True),
        ("legato.*.Failed", "legato.Failed", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "acb", False),
        ("a*a", "a", False),
        ("*", "", True),
        ("acme.?[x]", "acme.?[x]", True),
        ("acme.?[x]", "acme.a[x]", False),
    ],
)
def test_patterns_match_with_star_only(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_a_hostile_pattern_is_refused_or_matched_in_linear_time() -> None:
    with pytest.raises(PatternError, match=f"at most {MAX_WILDCARDS}"):
        check_pattern("*" * (MAX_WILDCARDS + 1))
    pattern = "a*" * MAX_WILDCARDS + "b"
    assert not matches(pattern, "a" * 100_000)  # str.find per part: no backtracking
    assert literal_prefix("legato.flow-run.*") == "legato.flow-run."


def test_a_task_run_state_becomes_an_event_related_to_its_run_flow_deployment_and_tags() -> None:
    state = StoredState(
        history_id=7,
        flow_run_id="f-1",
        task_run_id="t-1",
        type="FAILED",
        name="Failed",
        message="boom",
        timestamp=time.time(),
        run_name="load-3",
        flow_id="flow-9",
        flow_name="etl",
        deployment_id="dep-2",
        deployment_name="etl/nightly",
        work_pool="default",
        tags=("db",),
        prior_type="RUNNING",
        prior_name="Running",
    )
    event = state_event(state)
    assert event.event == "legato.task-run.Failed"
    assert event.resource == {
        "legato.resource.id": "legato.task-run.t-1",
        "legato.state-type": "FAILED",
        "legato.state-name": "Failed",
        "legato.resource.name": "load-3",
        "legato.state-message": "boom",
    }
    roles = {r["legato.resource.role"]: r["legato.resource.id"] for r in event.related}
    assert roles == {
        "flow-run": "legato.flow-run.f-1",
        "flow": "legato.flow.flow-9",
        "deployment": "legato.deployment.dep-2",
        "work-pool": "legato.work-pool.default",
        "tag": "legato.tag.db",
    }
    assert event.payload["intended"] == {"from": "RUNNING", "to": "FAILED"}
    assert state_event(state).id == event.id  # made again: the same event
    assert state_event(dataclasses.replace(state, history_id=8)).id != event.id

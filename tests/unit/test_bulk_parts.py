"""legato.orchestrator.bulk_parts: bodies a server with a body limit takes."""

from __future__ import annotations

import json
import os
from typing import Any

from legato.orchestrator.bulk_parts import encode, fit, truncated


def _log(message: str) -> dict[str, Any]:
    return {
        "flow_run_id": None,
        "task_run_id": None,
        "timestamp": 1.0,
        "level": "INFO",
        "logger": "t",
        "message": message,
    }


def _payload(**lists: list[Any]) -> dict[str, Any]:
    return {
        "batch_id": "b",
        "task_runs": [],
        "updates": [],
        "states": [],
        "inputs": [],
        "logs": [],
        **lists,
    }


def test_encode_replaces_lone_surrogates() -> None:
    body = encode({"m": os.fsdecode(b"caf\xe9")})
    assert json.loads(body) == {"m": "caf\ufffd"}


def test_a_body_that_fits_is_one_part_as_it_was() -> None:
    payload = _payload(logs=[_log("hello")])
    assert fit(payload, 10_000) == [(payload, encode(payload))]


def test_many_lines_are_split_in_order_under_the_limit() -> None:
    logs = [_log(f"line {i} " + "z" * 200) for i in range(200)]
    parts = fit(_payload(logs=logs), 5_000)
    assert len(parts) > 1
    assert all(len(body) <= 5_000 for _, body in parts)
    assert [line["message"] for part, _ in parts for line in part["logs"]] == [
        line["message"] for line in logs
    ]
    assert len({part["batch_id"] for part, _ in parts}) == len(parts)


def test_a_task_run_travels_with_its_states_and_edges() -> None:
    rows = [{"id": f"t{i}", "state_message": None, "pad": "p" * 300} for i in range(20)]
    states = [{"task_run_id": f"t{i}", "message": None} for i in range(20)]
    inputs = [{"task_run_id": f"t{i}", "parameter": "x", "upstream_id": "u"} for i in range(20)]
    parts = fit(_payload(task_runs=rows, states=states, inputs=inputs), 2_000)
    assert len(parts) > 1
    for part, _ in parts:
        ids = {row["id"] for row in part["task_runs"]}
        assert {s["task_run_id"] for s in part["states"]} == ids
        assert {e["task_run_id"] for e in part["inputs"]} == ids


def test_a_line_too_large_alone_is_truncated_saying_how_much() -> None:
    ((part, body),) = fit(_payload(logs=[_log("x" * 50_000)]), 4_000)
    assert len(body) <= 4_000
    message = part["logs"][0]["message"]
    kept = message.index("... [truncated: ")
    assert message == "x" * kept + f"... [truncated: {50_000 - kept:,} characters]"


def test_truncating_again_counts_from_the_original() -> None:
    once = truncated("a" * 1000, 600)
    assert once.endswith("[truncated: 400 characters]")
    assert truncated(once, 100) == "a" * 100 + "... [truncated: 900 characters]"

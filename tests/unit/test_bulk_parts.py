"""legato.orchestrator.bulk_parts: bodies a server with a body limit takes."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from legato.orchestrator.bulk_parts import encode, encode_batch, fit, truncated


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
    assert fit(payload, 10_000) == [(payload, encode_batch(payload))]


def test_a_batch_encodes_to_the_same_json_as_the_json_module_writes() -> None:
    payload = _payload(
        logs=[_log('caf\u00e9 "quoted" \\ \n\t\x01 \u2028 \U0001f600'), _log("1e16")],
        states=[{"task_run_id": "t", "timestamp": 1796153149.7317388, "scheduled_time": 1e16}],
        task_runs=[{"id": "t", "tags": ["a", "b"], "dynamic_key": 2**40, "message": None}],
    )
    assert json.loads(encode_batch(payload)) == json.loads(encode(payload)) == payload


def test_a_batch_with_a_lone_surrogate_is_cleaned_as_encode_does() -> None:
    payload = _payload(logs=[_log(os.fsdecode(b"caf\xe9"))])
    assert encode_batch(payload) == encode(payload)
    assert json.loads(encode_batch(payload))["logs"][0]["message"] == "caf\ufffd"


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_batch_with_a_number_json_cannot_hold_is_refused_as_encode_refuses(
    number: float,
) -> None:
    payload = _payload(states=[{"task_run_id": "t", "timestamp": number}])
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode_batch(payload)


def test_text_that_reads_nan_is_sent_as_it_is() -> None:
    payload = _payload(logs=[_log("NaN and Infinity")])
    assert json.loads(encode_batch(payload)) == payload


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

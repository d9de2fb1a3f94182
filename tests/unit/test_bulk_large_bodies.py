"""Large /api/bulk bodies are validated a slice at a time: same records, same errors."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.exceptions import RequestValidationError

from legato.server.api.ingest import LARGE_BODY_BYTES, _parse_bulk

FLOW_RUN = str(uuid.uuid4())


def _log(i: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "flow_run_id": FLOW_RUN,
        "timestamp": 1.0 + i,
        "level": "INFO",
        "logger": "test",
        "message": f"line {i} " + "x" * 100,
    }
    row.update(overrides)
    return row


def _body(logs: list[dict[str, object]], **extra: object) -> bytes:
    return json.dumps({"batch_id": str(uuid.uuid4()), "logs": logs, **extra}).encode()


def test_large_body_gives_every_row_in_order() -> None:
    raw = _body([_log(i) for i in range(15_000)])
    assert len(raw) > LARGE_BODY_BYTES
    bulk = _parse_bulk("application/json", raw)
    assert [line.timestamp for line in bulk.logs] == [1.0 + i for i in range(15_000)]


def test_large_body_error_names_the_row_past_the_first_slice() -> None:
    logs = [_log(i) for i in range(15_000)]
    logs[4321]["level"] = "x" * 100
    with pytest.raises(RequestValidationError) as caught:
        _parse_bulk("application/json", _body(logs))
    assert [e["loc"] for e in caught.value.errors()] == [("body", "logs", 4321, "level")]


def test_large_body_refuses_unknown_keys_like_a_small_one() -> None:
    raw = _body([_log(i) for i in range(15_000)], surprise=1)
    with pytest.raises(RequestValidationError) as caught:
        _parse_bulk("application/json", raw)
    assert [e["loc"] for e in caught.value.errors()] == [("body", "surprise")]


def test_large_body_cleans_lone_surrogates() -> None:
    logs = [_log(i) for i in range(15_000)]
    logs[10]["message"] = "caf\udce9.csv"
    bulk = _parse_bulk("application/json", _body(logs))
    assert bulk.logs[10].message == "caf\ufffd.csv"


def test_large_deeply_nested_body_is_a_422() -> None:
    raw = b"[" * (LARGE_BODY_BYTES + 10) + b"]" * (LARGE_BODY_BYTES + 10)
    with pytest.raises(RequestValidationError):
        _parse_bulk("application/json", raw)

"""Helpers shared by the store tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from legato.ids import new_id

FlowRunFactory = Callable[..., str]
"""``make_flow_run(state=None, **columns) -> flow run id`` (the ``make_flow_run`` fixture)."""


def flow_run_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": new_id(),
        "flow_name": "etl",
        "name": "brave-otter",
        "parameters": {"n": 1, "label": "x"},
        "tags": ["nightly"],
        "entrypoint": "flows.py:etl",
        "parent_flow_run_id": None,
        "parent_task_run_id": None,
        "run_count": 0,
        "created": time.time(),
        "start_time": None,
        "end_time": None,
    }
    row.update(overrides)
    return row

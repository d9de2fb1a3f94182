"""Thousands of flow runs written straight into a store, for listing and paging tests.

One transaction, the columns the store writes (and the tag rows it keeps beside
them), so a test gets 2,500 runs in a fraction of a second on either backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from legato.ids import new_id
from legato.store import Store
from legato.store.tables import flow_run_tags, flow_runs, flows

BASE = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
RUNS = 2_500


def fill_flow_runs(store: Store, count: int = RUNS) -> list[dict[str, Any]]:
    """``count`` runs: created one per 10 s but in threes on the same instant; tags and
    states by index. Returned newest first, the order every listing must give."""
    rows, tag_rows = [], []
    with store.engine.begin() as conn:
        conn.execute(flows.insert().values(id="f-etl", name="etl", created=BASE))
        for i in range(count):
            tags = ["all"]
            if i % 2 == 0:
                tags.append("even")
            if i % 3 == 0:
                tags.append("third")
            row = {
                "id": new_id(),
                "flow_id": "f-etl",
                "flow_name": "etl" if i % 5 else "report",
                "name": f"run-{i}",
                "parameters": {"i": i},
                "tags": tags,
                "state_type": "FAILED" if i % 7 == 0 else "COMPLETED",
                "state_name": "Failed" if i % 7 == 0 else "Completed",
                "state_timestamp": BASE,
                "run_count": 1,
                "created": BASE + 10 * (i // 3),
            }
            rows.append(row)
            tag_rows += [
                {"tag": t, "flow_run_id": row["id"], "created": row["created"]} for t in tags
            ]
        conn.execute(flow_runs.insert(), rows)
        conn.execute(flow_run_tags.insert(), tag_rows)
    return sorted(rows, key=lambda r: (r["created"], r["id"]), reverse=True)

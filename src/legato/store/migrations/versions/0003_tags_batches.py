"""Tag index table for flow runs, ids of ingested client batches, listing indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


_LISTING_INDEXES = {
    "ix_flow_runs_flow_name_created": ["flow_name"],
    "ix_flow_runs_state_type_created": ["state_type"],
    "ix_flow_runs_created": [],
}


def upgrade() -> None:
    tags = op.create_table(
        "flow_run_tags",
        sa.Column("tag", sa.String(255), primary_key=True),
        sa.Column("flow_run_id", sa.String(36), primary_key=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_flow_run_tags_tag_created", "flow_run_tags", ["tag", "created", "flow_run_id"]
    )
    op.create_table(
        "ingested_batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("received", sa.Float, nullable=False),
    )
    op.create_index("ix_ingested_batches_received", "ingested_batches", ["received"])
    # Listings order by (created, id): end each listing index with both.
    for name, columns in _LISTING_INDEXES.items():
        op.drop_index(name, table_name="flow_runs")
        op.create_index(name, "flow_runs", [*columns, "created", "id"])
    op.create_index("ix_flow_runs_state_name_created", "flow_runs", ["state_name", "created", "id"])

    # A run's task runs are read in (created, id) order; the old key columns were unused.
    op.drop_index("ix_task_runs_flow_run_id_key", table_name="task_runs")
    op.create_index(
        "ix_task_runs_flow_run_id_created", "task_runs", ["flow_run_id", "created", "id"]
    )

    # A flow run's own states (task_run_id NULL) are found without reading its tasks'.
    op.drop_index("ix_state_history_flow_run_id", table_name="state_history")
    op.create_index(
        "ix_state_history_flow_run_id_task_run_id",
        "state_history",
        ["flow_run_id", "task_run_id"],
    )

    # Existing runs keep their tags filterable: copy them out of the JSON column.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, tags, created FROM flow_runs"))
    batch: list[dict[str, object]] = []
    for run_id, raw_tags, created in rows:
        values = json.loads(raw_tags) if isinstance(raw_tags, str) else raw_tags
        for tag in dict.fromkeys(values or []):
            batch.append({"tag": tag, "flow_run_id": run_id, "created": created})
        if len(batch) >= 5000:
            op.bulk_insert(tags, batch)
            batch = []
    if batch:
        op.bulk_insert(tags, batch)


def downgrade() -> None:
    op.drop_index("ix_state_history_flow_run_id_task_run_id", table_name="state_history")
    op.create_index("ix_state_history_flow_run_id", "state_history", ["flow_run_id"])
    op.drop_index("ix_task_runs_flow_run_id_created", table_name="task_runs")
    op.create_index(
        "ix_task_runs_flow_run_id_key", "task_runs", ["flow_run_id", "task_key", "dynamic_key"]
    )
    op.drop_index("ix_flow_runs_state_name_created", table_name="flow_runs")
    for name, columns in _LISTING_INDEXES.items():
        op.drop_index(name, table_name="flow_runs")
        op.create_index(name, "flow_runs", [*columns, "created"])
    op.drop_table("ingested_batches")
    op.drop_table("flow_run_tags")

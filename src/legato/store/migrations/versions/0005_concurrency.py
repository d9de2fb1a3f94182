"""Tag concurrency limits and their leases; the index for each schedule's last slot.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "concurrency_limits",
        sa.Column("tag", sa.String(255), primary_key=True),
        sa.Column("limit", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "concurrency_leases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("task_run_id", sa.String(36), nullable=False),
        sa.Column("flow_run_id", sa.String(36), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.UniqueConstraint("tag", "task_run_id", name="uq_concurrency_leases_tag_task_run_id"),
    )
    op.create_index("ix_concurrency_leases_task_run_id", "concurrency_leases", ["task_run_id"])
    op.create_index(
        "ix_flow_runs_schedule_id_expected", "flow_runs", ["schedule_id", "expected_start_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_flow_runs_schedule_id_expected", table_name="flow_runs")
    op.drop_index("ix_concurrency_leases_task_run_id", table_name="concurrency_leases")
    op.drop_table("concurrency_leases")
    op.drop_table("concurrency_limits")

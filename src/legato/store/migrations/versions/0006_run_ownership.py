"""Who owns a flow run now: the attempt token of a claimed run, the process of a local one;
API keys of a running server's own processes (internal); log lines indexed for paging by id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_RUN_COLUMNS: list[tuple[str, Any]] = [
    ("token_hash", sa.String(64)),
    ("process_host", sa.String(255)),
    ("process_pid", sa.Integer),
    ("process_started", sa.Float),
]


def upgrade() -> None:
    with op.batch_alter_table("flow_runs") as batch:
        for name, kind in _RUN_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.create_index("ix_flow_runs_token_hash", ["token_hash"])
        batch.create_index("ix_flow_runs_process_host_state", ["process_host", "state_type"])
    # Log lines are paged by id (keyset), for a flow run or one task run.
    op.drop_index("ix_logs_flow_run_id_timestamp", table_name="logs")
    op.create_index("ix_logs_flow_run_id_id", "logs", ["flow_run_id", "id"])
    op.create_index("ix_logs_task_run_id_id", "logs", ["task_run_id", "id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("internal", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    op.drop_index("ix_logs_task_run_id_id", table_name="logs")
    op.drop_index("ix_logs_flow_run_id_id", table_name="logs")
    op.create_index("ix_logs_flow_run_id_timestamp", "logs", ["flow_run_id", "timestamp"])
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("internal")
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_index("ix_flow_runs_process_host_state")
        batch.drop_index("ix_flow_runs_token_hash")
        for name, _ in reversed(_RUN_COLUMNS):
            batch.drop_column(name)

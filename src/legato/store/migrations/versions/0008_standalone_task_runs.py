"""Task runs of their own: a task called outside any flow is recorded with no flow run.

``task_runs.flow_run_id`` and ``state_history.flow_run_id`` may be NULL: a standalone
task run, and its states.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLES = ("task_runs", "state_history")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("flow_run_id", existing_type=sa.String(36), nullable=True)


def downgrade() -> None:
    # Standalone task runs have nowhere to go in the older schema: they are dropped.
    op.execute("DELETE FROM state_history WHERE flow_run_id IS NULL")
    op.execute("DELETE FROM task_runs WHERE flow_run_id IS NULL")
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("flow_run_id", existing_type=sa.String(36), nullable=False)

"""Finding a flow run by its name (``legato runs show spry-jaguar``).

(No index serves ``legato runs ls``'s order by start-or-due time: an expression index
cannot be reflected, so SQLite's batch migrations would drop it silently.)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_flow_runs_name", "flow_runs", ["name"])


def downgrade() -> None:
    op.drop_index("ix_flow_runs_name", table_name="flow_runs")

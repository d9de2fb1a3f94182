"""Deployments, their schedules, work pools; the columns runs of deployments carry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_RUN_COLUMNS = [
    sa.Column("deployment_id", sa.String(36), nullable=True),
    sa.Column("work_pool", sa.String(255), nullable=True),
    sa.Column("schedule_id", sa.String(36), nullable=True),
    sa.Column("expected_start_time", sa.Float, nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("worker_name", sa.String(255), nullable=True),
    sa.Column("heartbeat", sa.Float, nullable=True),
]


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("flow_name", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("entrypoint", sa.Text, nullable=False),
        sa.Column("work_pool", sa.String(255), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("parameter_schema", sa.JSON, nullable=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("concurrency_limit", sa.Integer, nullable=True),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("catchup", sa.Boolean, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.UniqueConstraint("flow_name", "name", name="uq_deployments_flow_name_name"),
    )
    op.create_table(
        "deployment_schedules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("deployment_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("schedule", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_deployment_schedules_deployment_id", "deployment_schedules", ["deployment_id"]
    )
    op.create_table(
        "work_pools",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("concurrency_limit", sa.Integer, nullable=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    # batch_alter_table: SQLite cannot add a unique column in place.
    with op.batch_alter_table("flow_runs") as batch:
        for column in _RUN_COLUMNS:
            batch.add_column(column)
        batch.create_unique_constraint("uq_flow_runs_idempotency_key", ["idempotency_key"])
    op.create_index(
        "ix_flow_runs_deployment_id_created", "flow_runs", ["deployment_id", "created", "id"]
    )
    op.create_index(
        "ix_flow_runs_pool_state_expected",
        "flow_runs",
        ["work_pool", "state_type", "expected_start_time"],
    )


def downgrade() -> None:
    op.drop_index("ix_flow_runs_pool_state_expected", table_name="flow_runs")
    op.drop_index("ix_flow_runs_deployment_id_created", table_name="flow_runs")
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_constraint("uq_flow_runs_idempotency_key", type_="unique")
        for column in reversed(_RUN_COLUMNS):
            batch.drop_column(column.name)
    op.drop_table("work_pools")
    op.drop_table("deployment_schedules")
    op.drop_table("deployments")

"""Initial schema: flows, flow runs, task runs, graph edges, state history, logs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flows",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("flow_id", sa.String(36), nullable=False),
        sa.Column("flow_name", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("entrypoint", sa.Text, nullable=True),
        sa.Column("parent_flow_run_id", sa.String(36), nullable=True),
        sa.Column("parent_task_run_id", sa.String(36), nullable=True),
        sa.Column("state_type", sa.String(16), nullable=False),
        sa.Column("state_name", sa.String(32), nullable=False),
        sa.Column("state_message", sa.Text, nullable=True),
        sa.Column("state_timestamp", sa.Float, nullable=False),
        sa.Column("run_count", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("start_time", sa.Float, nullable=True),
        sa.Column("end_time", sa.Float, nullable=True),
    )
    op.create_index("ix_flow_runs_flow_name_created", "flow_runs", ["flow_name", "created"])
    op.create_index("ix_flow_runs_state_type_created", "flow_runs", ["state_type", "created"])
    op.create_index("ix_flow_runs_created", "flow_runs", ["created"])
    op.create_index("ix_flow_runs_parent_flow_run_id", "flow_runs", ["parent_flow_run_id"])
    op.create_table(
        "task_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("flow_run_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("task_key", sa.String(512), nullable=False),
        sa.Column("dynamic_key", sa.Integer, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("state_type", sa.String(16), nullable=False),
        sa.Column("state_name", sa.String(32), nullable=False),
        sa.Column("state_message", sa.Text, nullable=True),
        sa.Column("state_timestamp", sa.Float, nullable=False),
        sa.Column("run_count", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("start_time", sa.Float, nullable=True),
        sa.Column("end_time", sa.Float, nullable=True),
        sa.Column("cache_key", sa.String(512), nullable=True),
        sa.Column("cache_expiration", sa.Float, nullable=True),
        sa.Column("result_key", sa.String(512), nullable=True),
        sa.Column("subflow_run_id", sa.String(36), nullable=True),
    )
    op.create_index(
        "ix_task_runs_flow_run_id_key", "task_runs", ["flow_run_id", "task_key", "dynamic_key"]
    )
    op.create_index("ix_task_runs_cache_key", "task_runs", ["cache_key"])
    op.create_table(
        "task_run_inputs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_run_id", sa.String(36), nullable=False),
        sa.Column("parameter", sa.String(255), nullable=False),
        sa.Column("upstream_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_task_run_inputs_task_run_id", "task_run_inputs", ["task_run_id"])
    op.create_table(
        "state_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow_run_id", sa.String(36), nullable=False),
        sa.Column("task_run_id", sa.String(36), nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("scheduled_time", sa.Float, nullable=True),
    )
    op.create_index("ix_state_history_flow_run_id", "state_history", ["flow_run_id"])
    op.create_index("ix_state_history_task_run_id", "state_history", ["task_run_id"])
    op.create_table(
        "logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow_run_id", sa.String(36), nullable=True),
        sa.Column("task_run_id", sa.String(36), nullable=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("logger", sa.String(255), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_logs_flow_run_id_timestamp", "logs", ["flow_run_id", "timestamp"])


def downgrade() -> None:
    for table in ("logs", "state_history", "task_run_inputs", "task_runs", "flow_runs", "flows"):
        op.drop_table(table)

"""Automations: their specs, what their triggers counted, their firings and the
actions of each firing, and the lease that lets one server evaluate them at a time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "automations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("last_fired", sa.Float, nullable=True),
    )
    op.create_table(
        "automation_buckets",
        sa.Column("automation_id", sa.String(36), primary_key=True),
        sa.Column("trigger_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("start", sa.Float, nullable=True),
        sa.Column("end", sa.Float, nullable=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("triggered", sa.Boolean, nullable=False),
        sa.Column("event_ids", sa.Text, nullable=False),
    )
    op.create_table(
        "automation_firings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("automation_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trigger_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("event_ids", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=True),
        sa.Column("suppressed", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_automation_firings_automation_id_created",
        "automation_firings",
        ["automation_id", "created"],
    )
    op.create_table(
        "automation_actions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("firing_id", sa.String(36), nullable=False),
        sa.Column("automation_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("finished", sa.Float, nullable=True),
    )
    op.create_index("ix_automation_actions_status", "automation_actions", ["status", "lease_until"])
    op.create_index(
        "ix_automation_actions_firing_id", "automation_actions", ["firing_id", "position"]
    )
    op.create_table(
        "service_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "service_leases",
        "automation_actions",
        "automation_firings",
        "automation_buckets",
        "automations",
    ):
        op.drop_table(table)

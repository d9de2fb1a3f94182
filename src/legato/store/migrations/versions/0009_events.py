"""Events: what happened to which resource, the resources related to each, and the
cursor of the state-change projection.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", _SEQ, primary_key=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("event", sa.String(1024), nullable=False),
        sa.Column("occurred", sa.Float, nullable=False),
        sa.Column("received", sa.Float, nullable=False),
        sa.Column("resource_id", sa.String(1024), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("related", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_event_seq", "events", ["event", "seq"])
    op.create_index("ix_events_resource_id_seq", "events", ["resource_id", "seq"])
    op.create_index("ix_events_occurred", "events", ["occurred"])
    op.create_table(
        "event_resources",
        sa.Column("seq", _SEQ, nullable=False),
        sa.Column("resource_id", sa.String(1024), nullable=False),
        sa.Column("role", sa.String(255), nullable=False),
    )
    op.create_index("ix_event_resources_resource_id_seq", "event_resources", ["resource_id", "seq"])
    op.create_index("ix_event_resources_seq", "event_resources", ["seq"])
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    # The states of runs made before events existed are not replayed as events:
    # projection starts after the newest state stored now.
    op.execute(
        "INSERT INTO event_cursors (name, position, updated) "
        f"SELECT 'state_history', COALESCE(MAX(id), 0), {time.time()!r} FROM state_history"
    )


def downgrade() -> None:
    op.drop_table("event_cursors")
    op.drop_table("event_resources")
    op.drop_table("events")

"""Heartbeats: dead man's switches from sevflow.yaml and made at runtime, with their clocks.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-20 09:00:00

Issue 18, the heartbeats part: one row per heartbeat, its definition and where its clock stands (last
ping, a run started, when it is due, since when it is down). The watch workflow reads the soonest due
time through the index on `due_at`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("team", sa.String(255), nullable=True),
        sa.Column("watchdog", JSON_DOCUMENT, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("paused_at", TIMESTAMP, nullable=True),
        sa.Column("paused_by", sa.String(255), nullable=True),
        sa.Column("armed_at", TIMESTAMP, nullable=False),
        sa.Column("last_ping_at", TIMESTAMP, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("down_since", TIMESTAMP, nullable=True),
        sa.Column("down_reason", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_heartbeats"),
    )
    op.create_index("ix_heartbeats_due_at", "heartbeats", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_heartbeats_due_at", table_name="heartbeats")
    op.drop_table("heartbeats")

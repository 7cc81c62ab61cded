"""Alerts: the alert groups that coalesce deliveries, the log of suppressed ones, incidents' alert name.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("alert_name", sa.String(255), nullable=True))
        batch.create_index("ix_incidents_service_alert_name", ["service", "alert_name"])

    op.create_table(
        "alert_groups",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("group_key", sa.String(1024), nullable=False),
        sa.Column("workflow_id", sa.String(1000), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("signals", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("last_delivery_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("source", "group_key", name="pk_alert_groups"),
    )
    op.create_table(
        "alert_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("group_key", sa.String(1024), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("service", sa.String(255), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("firing", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("detail", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_log"),
    )
    op.create_index("ix_alert_log_received_at", "alert_log", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_log_received_at", table_name="alert_log")
    op.drop_table("alert_log")
    op.drop_table("alert_groups")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_service_alert_name")
        batch.drop_column("alert_name")

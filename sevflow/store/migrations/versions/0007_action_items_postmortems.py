"""Action items and postmortems: what the chase and the postmortem policy keep on record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 20:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "action_items",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(1000), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("team", sa.String(255), nullable=True),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", JSON_DOCUMENT, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_action_items"),
    )
    op.create_index("ix_action_items_incident_number", "action_items", ["incident_number"])
    op.create_index("ix_action_items_status_due", "action_items", ["status", "due"])
    op.create_index("ix_action_items_owner", "action_items", ["owner"])
    op.create_table(
        "postmortems",
        sa.Column("incident_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("review_at", TIMESTAMP, nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=True),
        sa.Column("published_by", sa.String(255), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("incident_number", name="pk_postmortems"),
    )


def downgrade() -> None:
    op.drop_table("postmortems")
    op.drop_index("ix_action_items_owner", table_name="action_items")
    op.drop_index("ix_action_items_status_due", table_name="action_items")
    op.drop_index("ix_action_items_incident_number", table_name="action_items")
    op.drop_table("action_items")

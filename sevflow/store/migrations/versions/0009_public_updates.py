"""Public status page entries: what comms published for customers, apart from the internal timeline.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "public_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name="fk_public_updates_incident_number_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_public_updates"),
        sa.UniqueConstraint("key", name="uq_public_updates_key"),
    )
    # The page reads an incident's entries in time order, and the feed the newest entries of all.
    op.create_index("ix_public_updates_incident_number_at", "public_updates", ["incident_number", "at"])
    op.create_index("ix_public_updates_at", "public_updates", ["at"])


def downgrade() -> None:
    op.drop_index("ix_public_updates_at", table_name="public_updates")
    op.drop_index("ix_public_updates_incident_number_at", table_name="public_updates")
    op.drop_table("public_updates")

"""Chat channels: each incident's channel, its card and who was invited.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "chat_channels",
        sa.Column("incident_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("card_ts", sa.String(64), nullable=True),
        sa.Column("card_version", sa.Integer(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("invited", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("incident_number", name="pk_chat_channels"),
        sa.UniqueConstraint("channel_id", name="uq_chat_channels_channel_id"),
    )


def downgrade() -> None:
    op.drop_table("chat_channels")

"""Handoff messages: each rotation's handoff message, remembered once per shift by its key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handoff_messages",
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("rotation", sa.String(255), nullable=False),
        sa.Column("shift_index", sa.Integer(), nullable=False),
        sa.Column("shift_start", TIMESTAMP, nullable=False),
        sa.Column("channel", sa.String(255), nullable=True),
        sa.Column("ts", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_handoff_messages"),
    )
    op.create_index("ix_handoff_messages_rotation", "handoff_messages", ["rotation"])


def downgrade() -> None:
    op.drop_index("ix_handoff_messages_rotation", table_name="handoff_messages")
    op.drop_table("handoff_messages")

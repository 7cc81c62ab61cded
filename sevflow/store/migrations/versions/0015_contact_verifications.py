"""Contact verifications: SMS, voice, email and push page a person only once they confirmed them.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 20:40:00

Issue 16: a method that reaches a number, an address or a device is confirmed by a code first (CLI,
reply, link). The confirmation is kept per address digest; the pending code per person and method.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contact_verifications",
        sa.Column("person", sa.String(255), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("verified_at", TIMESTAMP, nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("person", "method", "digest", name="pk_contact_verifications"),
    )
    op.create_table(
        "contact_challenges",
        sa.Column("person", sa.String(255), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("wrong_answers", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("person", "method", name="pk_contact_challenges"),
    )


def downgrade() -> None:
    op.drop_table("contact_challenges")
    op.drop_table("contact_verifications")

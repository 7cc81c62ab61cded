"""On-call calendar feeds: the secret URLs of the rotation, team and person feeds.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-14 09:00:00

Issue 17, the feeds part: one row per feed (kind and name), with the salt its URL token is derived from
and the token's SHA-256; never the token itself. A reset draws a new salt, and the old URL 404s.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oncall_feeds",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("reset_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("kind", "name", name="pk_oncall_feeds"),
        sa.UniqueConstraint("digest", name="uq_oncall_feeds_digest"),
    )


def downgrade() -> None:
    op.drop_table("oncall_feeds")

"""Pages being sent, and the calls made for them: a page's send is claimed in the store before it goes
out and marked sent after, and each call is tied to its page by the provider's call id.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-12 09:00:00

Issue 16, the adversary's findings: a retried push (Apprise takes no idempotency key) could push twice,
and a retried call was matched to its page by number, time and a claim held in one worker's memory.
Now an attempt claims the page's send (`page_sends`) and marks it sent, so a retry after the send
sends nothing; and a call's id is recorded with its page (`page_calls`) by the attempt that made it,
and by Twilio's status callback and keypress requests, which carry the page's key, so a retry on any
worker, after any restart, finds the call exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "page_sends",
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("claimed_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_page_sends"),
    )
    op.create_table(
        "page_calls",
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("page_key", sa.String(1000), nullable=False),
        sa.Column("claimed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("sid", name="pk_page_calls"),
    )
    op.create_index("ix_page_calls_page_key", "page_calls", ["page_key"])


def downgrade() -> None:
    op.drop_index("ix_page_calls_page_key", table_name="page_calls")
    op.drop_table("page_calls")
    op.drop_table("page_sends")

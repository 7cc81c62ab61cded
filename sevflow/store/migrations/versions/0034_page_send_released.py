"""A page's send claim remembers an attempt that let go of it after a send that may have gone out.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 17:10:00

Issue 16: a provider without an idempotency key (a text, a call) is asked for an earlier attempt's
message before a page is sent again. Whether to ask was guessed from the attempt (a retry, or a page
more than 5 s late): under load every late call listed the person's calls and could take another
page's call, made and not yet recorded, for its own (that page's person then got one call for two
incidents), and every late page cost the provider a lookup when it was slowest. The claim now says it
instead: an attempt whose send failed in a way that may have sent (a timeout, a lost answer, a 5xx)
keeps its claim's row with `released_at`, one that failed for certain deletes it as before, and only
a claim taken over from a released or stale one looks up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("page_sends") as batch:
        batch.add_column(sa.Column("released_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page_sends") as batch:
        batch.drop_column("released_at")

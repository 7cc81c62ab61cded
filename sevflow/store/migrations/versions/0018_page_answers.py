"""Pages answered: how the provider said each page ended, and the texts people sent back.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10 09:00:00

Issue 16, the answer path: Twilio's status callbacks mark a page delivered or undelivered (a report
may come before the page is recorded, so it is kept on its own and taken up by the page), and each
inbound text is answered once however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("delivery", sa.String(32), nullable=True))
        batch.add_column(sa.Column("delivery_at", TIMESTAMP, nullable=True))
    op.create_table(
        "page_deliveries",
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("reported_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_page_deliveries"),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("sid", name="pk_inbound_messages"),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_table("page_deliveries")
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("delivery_at")
        batch.drop_column("delivery")

"""Escalations their incident stopped: no page of theirs goes out after the answer that stopped them.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 10:40:00

Issue 16: an acknowledgement (a reply of `1`, the CLI, Slack) signals the incident's escalation to stop
and is answered once the incident's snapshot is stored; a page the escalation was sending in that
moment still went out after the answer ("paging stopped"). The incident's record now writes the
escalation's id here, in the snapshot's transaction, once the incident no longer pages it, and every
page checks it just before it goes out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stopped_escalations",
        sa.Column("escalation_id", sa.String(1000), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("stopped_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("escalation_id", name="pk_stopped_escalations"),
    )


def downgrade() -> None:
    op.drop_table("stopped_escalations")

"""Pages: every page sent by an escalation, for the record and the burnout metrics.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.String(1000), nullable=False),
        sa.Column("person", sa.String(255), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("via", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("loop", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("paged_at", TIMESTAMP, nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("out_of_hours", sa.Boolean(), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_pages"),
    )
    op.create_index("ix_pages_incident_number", "pages", ["incident_number"])
    op.create_index("ix_pages_person_paged_at", "pages", ["person", "paged_at"])
    op.create_index("ix_pages_paged_at", "pages", ["paged_at"])


def downgrade() -> None:
    op.drop_index("ix_pages_paged_at", table_name="pages")
    op.drop_index("ix_pages_person_paged_at", table_name="pages")
    op.drop_index("ix_pages_incident_number", table_name="pages")
    op.drop_table("pages")

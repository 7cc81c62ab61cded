"""Alert group labels: the labels the routing table matched the group's newest content on.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00

The noise report prints, for each alert group nobody acted on, the `routing` rule that would drop or
downgrade it; a rule matches labels, and nothing else in the store knew a group's. NULL for groups last
delivered before this revision: the report says it has no labels to write a rule from.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.add_column(sa.Column("labels", JSON_DOCUMENT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.drop_column("labels")

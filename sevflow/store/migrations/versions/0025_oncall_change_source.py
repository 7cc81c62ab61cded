"""Imported on-call changes: the key of the override each came from.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-18 09:00:00

Issue 18, the importers: `sevflow import opsgenie|pagerduty` writes the source's schedule overrides as
runtime on-call changes. `source` holds the override's key in the system it came from
(`pagerduty:override:PX1:layer-1`), unique, so importing the same export again finds each change
instead of adding it twice. Changes people make here have none (NULL; any number of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oncall_changes") as batch:
        batch.add_column(sa.Column("source", sa.String(255), nullable=True))
        batch.create_unique_constraint("uq_oncall_changes_source", ["source"])


def downgrade() -> None:
    with op.batch_alter_table("oncall_changes") as batch:
        batch.drop_constraint("uq_oncall_changes_source", type_="unique")
        batch.drop_column("source")

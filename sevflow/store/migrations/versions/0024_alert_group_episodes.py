"""Alert groups' episodes: which of a group's incidents is current.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 02:30:00

Issue 15, the cost of a new incident: no alert-group workflow stands between the API and an incident any
more. The API starts the group's current incident itself, `<group workflow id>/incident-<episode>`, with
the delivery that opens it; the episode moves on when the next episode's incident registers, or when
the current one ends. Groups stored before this have had their incidents under other ids: they start
at episode 1 (no incident of theirs is named so).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.add_column(sa.Column("episode", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.drop_column("episode")

"""Command key refusals: a command refused under an idempotency key stays refused under it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 17:30:00

A retry with the key of a command the incident refused (409, "reopen it first") was sent again and
could apply once the incident had moved on: the refusal's words are now kept with the key, and a
retry gets them back, as a retry of an applied command gets its answer from the store.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("command_keys") as batch:
        batch.add_column(sa.Column("refusal", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("command_keys") as batch:
        batch.drop_column("refusal")

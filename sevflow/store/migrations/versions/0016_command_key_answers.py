"""Command key answers: a retried command gets the answer its first attempt got.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 10:00:00

A retry with the key of an applied command was answered with the incident as it was at the retry
(another lead, a later status), not as the command left it: the answer given (the JSON the API and the
CLI showed) is now kept with the key, and a retry gets it back as a refused one gets its refusal.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("command_keys") as batch:
        batch.add_column(sa.Column("answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("command_keys") as batch:
        batch.drop_column("answer")

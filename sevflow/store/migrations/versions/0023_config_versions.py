"""Pinned policies: each file configuration a worker or the API loaded, by its version id.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-16 09:00:00

Issue 17, the pinned-policies part: one row per distinct sevflow.yaml (its text, under the version id
of its on-call sections), written once. An escalation carries the version it started on and plans each
level from that row's configuration, with the runtime covers of now applied.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_config_versions"),
    )


def downgrade() -> None:
    op.drop_table("config_versions")

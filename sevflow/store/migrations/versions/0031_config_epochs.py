"""When each file configuration took effect, for the hours report.

Revision ID: 0031
Revises: 0029
Create Date: 2026-12-22 09:00:00

Issue 17, on-call hours: the report read today's rotations for the whole month, so a rotation changed on
the 15th was counted on its new shape from the 1st. `config_epochs` keeps when each configuration a
worker or the API started on took effect: a row whenever one starts on a file other than the one the
last row names (a rollback to an earlier file is a new row). The configurations already kept in
`config_versions` become one row each, at the time they were first kept, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "config_epochs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_config_epochs"),
    )
    op.create_index("ix_config_epochs_started_at", "config_epochs", ["started_at"])
    op.execute(
        "INSERT INTO config_epochs (version, started_at) "
        "SELECT version, created_at FROM config_versions ORDER BY created_at, version"
    )


def downgrade() -> None:
    op.drop_index("ix_config_epochs_started_at", table_name="config_epochs")
    op.drop_table("config_epochs")

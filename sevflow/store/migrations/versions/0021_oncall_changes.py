"""On-call changes at runtime: covers, leave and swaps made from the CLI, the API, Slack or the dashboard.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-12 09:00:00

Issue 17, the overrides part: the runtime layer over sevflow.yaml's rotations (sevflow.oncall.changes).
The `oncall` counter goes up in the transaction of every change, so a worker re-reads the changes only
when it moved (one small query per read).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oncall_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rotation", sa.String(255), nullable=False),
        sa.Column("layer", sa.String(16), nullable=False),
        sa.Column("person", sa.String(255), nullable=True),
        sa.Column("replaces", sa.String(255), nullable=True),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("ends_at", TIMESTAMP, nullable=False),
        sa.Column("swap_starts_at", TIMESTAMP, nullable=True),
        sa.Column("swap_ends_at", TIMESTAMP, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("confirmed_by", sa.String(255), nullable=True),
        sa.Column("confirmed_at", TIMESTAMP, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_oncall_changes"),
    )
    op.create_index("ix_oncall_changes_rotation_status", "oncall_changes", ["rotation", "status"])
    op.execute("INSERT INTO counters (name, value) VALUES ('oncall', 0)")


def downgrade() -> None:
    op.execute("DELETE FROM counters WHERE name = 'oncall'")
    op.drop_index("ix_oncall_changes_rotation_status", table_name="oncall_changes")
    op.drop_table("oncall_changes")

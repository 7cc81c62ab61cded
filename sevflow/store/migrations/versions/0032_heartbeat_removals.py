"""Heartbeats removed while down whose incident's alert is still to be resolved.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-22 09:00:00

Issue 18, heartbeats: a heartbeat removed (`DELETE /v1/heartbeats/{name}`, `sevflow heartbeat remove`,
or gone from sevflow.yaml) while it is down leaves an incident no ping can resolve; its alert is
resolved by the removal. When that resolve cannot be delivered (Temporal down), the removal was
already committed and nothing was left to try again. Now the removal writes, in its transaction, a row
here (what the resolve needs: the heartbeat's definition and its down), which is deleted once the
resolve was delivered; until then the remover retries it, and so does every watch sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "heartbeat_removals",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("down_since", TIMESTAMP, nullable=False),
        sa.Column("down_reason", sa.String(16), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("team", sa.String(255), nullable=True),
        sa.Column("removed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", "down_since", name="pk_heartbeat_removals"),
    )


def downgrade() -> None:
    op.drop_table("heartbeat_removals")

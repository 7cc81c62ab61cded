"""Command keys: the idempotency key of every command the CLI, the API and Slack send.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 14:00:00

Temporal applies an update once per update id, but only within one workflow run: a retry that arrives
after the incident continued as new would be applied again, and a retry with the same key but another
body would be answered with the first one's result. The store keeps, per key, the request it named
(a hash), the run its update went to and whether its answer came back; keys are forgotten after a week.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "command_keys",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("target", sa.String(1000), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("applied_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_command_keys"),
    )
    op.create_index("ix_command_keys_created_at", "command_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_command_keys_created_at", table_name="command_keys")
    op.drop_table("command_keys")

"""Which run of a workflow id an incident is, and when an alert group was last signalled.

Revision ID: 0029
Revises: 0026
Create Date: 2026-12-21 09:00:00

Issue 15, the alert path's faults. An alert group's incident id (`<group>/incident-<episode>`) can be
started again once Temporal's retention has forgotten a run an operator terminated (nothing moved the
group's episode on): `incidents.first_run_id` is the run the number was given to, and the register
refuses that number to any other run (sevflow/store/incidents.py). `alert_groups.last_signal_at` is when
the group's content was last signalled, which `RECONFIRM_AFTER` counts from, so `last_delivery_at` can
move with every delivery, coalesced repeats included (what the dashboard and the noise report read).
Incidents stored before this have no run (NULL: any run of their id is theirs, as before); a group's
last signal starts at its last delivery.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("first_run_id", sa.String(64), nullable=True))
    with op.batch_alter_table("alert_groups") as batch:
        batch.add_column(sa.Column("last_signal_at", TIMESTAMP, nullable=True))
    op.execute("UPDATE alert_groups SET last_signal_at = last_delivery_at")


def downgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.drop_column("last_signal_at")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("first_run_id")

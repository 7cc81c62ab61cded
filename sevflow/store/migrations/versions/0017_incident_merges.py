"""Incident merges: a merge is claimed for both incidents in one transaction before it is applied.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09 10:00:00

Issue 14: `merge A into B` and `merge B into A` sent within 100 ms both passed the check of the
target's status and both applied, leaving neither incident open and each pointing at the other. A
merge now claims a row here first, with both incidents' rows locked, and a claim into an incident that
is itself merged (or being merged) away is refused. The merges done before this revision are written
here as claims, so the table holds every merge.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the column type in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    merges = op.create_table(
        "incident_merges",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("into_number", sa.Integer(), nullable=False),
        sa.Column("claimed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["number"], ["incidents.number"], name="fk_incident_merges_number_incidents", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["into_number"],
            ["incidents.number"],
            name="fk_incident_merges_into_number_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", name="pk_incident_merges"),
    )
    incidents = sa.table(
        "incidents",
        sa.column("number", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("state", sa.JSON()),
        sa.column("closed_at", TIMESTAMP),
        sa.column("updated_at", TIMESTAMP),
    )
    conn = op.get_bind()
    numbers = set(conn.scalars(sa.select(incidents.c.number)))
    merged = conn.execute(
        sa.select(incidents.c.number, incidents.c.state, incidents.c.closed_at, incidents.c.updated_at).where(
            incidents.c.status == "merged"
        )
    ).all()
    rows = []
    for number, state, closed_at, updated_at in merged:
        into = _document(state).get("merged_into")
        if isinstance(into, int) and into in numbers:
            rows.append({"number": number, "into_number": into, "claimed_at": closed_at or updated_at})
    if rows:
        op.bulk_insert(merges, rows)


def _document(state: Any) -> dict[str, Any]:
    # JSONB comes back as a dict; SQLite's JSON column may come back as its text.
    if isinstance(state, str):
        state = json.loads(state)
    return state if isinstance(state, dict) else {}


def downgrade() -> None:
    op.drop_table("incident_merges")

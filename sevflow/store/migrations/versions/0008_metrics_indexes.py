"""Metrics indexes: one covering index for the window's incidents, and the alert group as a column.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 00:00:00

Every incident metric reads the incidents detected in a window and a handful of their columns. The
rows also carry the workflow's whole state document (about 3 KB), so a scan of the table reads a page
or more per incident: at 100,000 incidents each of the report's passes read hundreds of megabytes on
SQLite. `ix_incidents_metrics` holds every column those passes read, led by detected_at, so each pass
reads the index alone (SQLite's covering index, PostgreSQL's index-only scan): a few megabytes.

`alert_group_id` (the alert group that opened the incident, from the state document) was read out of
the JSON by the noise ratio, parsing the document of every incident resolved without an
acknowledgement; as a column it is in the covering index too. Backfilled here from the documents.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The order matters: the window's range on detected_at first, then what the passes filter and group on,
# then what they only read. number (the primary key) ends it: SQLite adds the rowid to every index
# anyway, PostgreSQL needs it there for the noise ratio's IN and the reliability's ordering.
METRICS_COLUMNS = [
    "detected_at",
    "drill",
    "status",
    "service",
    "team",
    "severity",
    "repeat_of",
    "started_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "alert_group_id",
    "number",
]


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("alert_group_id", sa.String(1000), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE incidents SET alert_group_id = state ->> 'alert_group_id' "
            "WHERE state ->> 'alert_group_id' IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE incidents SET alert_group_id = json_extract(state, '$.alert_group_id') "
            "WHERE json_extract(state, '$.alert_group_id') IS NOT NULL"
        )
    op.create_index("ix_incidents_metrics", "incidents", METRICS_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_incidents_metrics", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("alert_group_id")

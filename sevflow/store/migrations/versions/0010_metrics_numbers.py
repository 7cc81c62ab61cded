"""Metrics as numbers: each incident's TTD, TTA, TTM and TTR in seconds, its start and resolution as
epoch seconds, and an index per ordering the metrics need.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 03:00:00

With 0008 every metric read one covering index, but the report still computed four durations from
text timestamps for every incident of the window and sorted each of them (twice, for the median and
the p90), and sorted the failures of each service for MTBF: at 100,000 incidents that was three
quarters of `sevflow metrics --since 365d`. The durations are now written with every snapshot (the
same clamp as sevflow.incident.milestones), and each has an index led by it, so a quantile is a walk
along that index to its rank with no sort and no arithmetic; MTBF walks `ix_incidents_uptime` in the
order its window function needs, and the counts by severity, service and team stream along
`ix_incidents_groups` instead of sorting the window's incidents into their groups.
`ix_incidents_metrics` trades the timestamps the metrics no longer read for the numbers they do.

Backfilled here with the SQL of the queries they replace (julianday on SQLite, epoch on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBERS = ["started_epoch", "resolved_epoch", "ttd_seconds", "tta_seconds", "ttm_seconds", "ttr_seconds"]

OLD_METRICS_COLUMNS = [
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
# Frozen copies of sevflow/store/schema.py's definitions (a migration never imports the live schema).
METRICS_COLUMNS = [
    "detected_at",
    "drill",
    "status",
    "service",
    "team",
    "severity",
    "repeat_of",
    "acknowledged_at",
    "resolved_at",
    "alert_group_id",
    "ttd_seconds",
    "tta_seconds",
    "ttm_seconds",
    "ttr_seconds",
    "number",
]
# What a quantile's walk filters on, after the duration that orders it.
WALK_COLUMNS = ["detected_at", "drill", "status", "service"]
UPTIME_COLUMNS = [
    "service",
    "started_epoch",
    "number",
    "detected_at",
    "drill",
    "status",
    "resolved_epoch",
    "ttr_seconds",
]
# The counts by severity, service and team stream along this index: grouped without a sort.
GROUPS_COLUMNS = ["service", "severity", "team", "detected_at", "drill"]
DURATIONS = ("ttd", "tta", "ttm", "ttr")


def _backfill(epoch: str, seconds: str) -> str:
    """The UPDATE that computes every number from the row's timestamps, given each dialect's epoch of a
    timestamp and seconds between two (clamped at 0, NULL when either is NULL)."""
    started = "coalesce(started_at, detected_at)"
    return (
        "UPDATE incidents SET "
        f"started_epoch = {epoch.format(started)}, "
        f"resolved_epoch = {epoch.format('resolved_at')}, "
        f"ttd_seconds = {seconds.format(started, 'detected_at')}, "
        f"tta_seconds = {seconds.format('detected_at', 'acknowledged_at')}, "
        f"ttm_seconds = {seconds.format(started, 'mitigated_at')}, "
        f"ttr_seconds = {seconds.format(started, 'resolved_at')}"
    )


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for name in NUMBERS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            _backfill(
                "date_part('epoch', {0})",
                "CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL "
                "ELSE GREATEST(date_part('epoch', {1} - {0}), 0.0) END",
            )
        )
    else:
        # The timestamps are ISO text; julianday reads them (to the millisecond) and the scalar max()
        # is NULL when an argument is.
        op.execute(
            _backfill(
                "(julianday({0}) - 2440587.5) * 86400.0",
                "max((julianday({1}) - julianday({0})) * 86400.0, 0.0)",
            )
        )
    op.drop_index("ix_incidents_metrics", table_name="incidents")
    op.create_index("ix_incidents_metrics", "incidents", METRICS_COLUMNS)
    for name in DURATIONS:
        op.create_index(f"ix_incidents_{name}", "incidents", [f"{name}_seconds", *WALK_COLUMNS])
    op.create_index("ix_incidents_uptime", "incidents", UPTIME_COLUMNS)
    op.create_index("ix_incidents_groups", "incidents", GROUPS_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_incidents_groups", table_name="incidents")
    op.drop_index("ix_incidents_uptime", table_name="incidents")
    for name in DURATIONS:
        op.drop_index(f"ix_incidents_{name}", table_name="incidents")
    op.drop_index("ix_incidents_metrics", table_name="incidents")
    op.create_index("ix_incidents_metrics", "incidents", OLD_METRICS_COLUMNS)
    with op.batch_alter_table("incidents") as batch:
        for name in NUMBERS:
            batch.drop_column(name)

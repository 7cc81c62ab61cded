"""Migration 0008: the incident's alert group as a column (backfilled from the state document, kept in
step by every snapshot) and the covering index the metrics read, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select

from sevflow.incident.models import IncidentState
from sevflow.metrics import compute_metrics
from sevflow.store.database import make_engine, migrate
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentRow

from .conftest import engine_for, incident_row_before_backfills

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_upgrade_backfills_the_alert_group_from_the_state(
    new_database: Callable[[], str], make_state: Callable[..., IncidentState]
) -> None:
    engine = engine_for(new_database())
    try:
        migrate(engine, "0007")
        from_alerts = make_state("alertgroup-grafana-abc/incident-1", alert_group_id="alertgroup-grafana-abc")
        by_hand = make_state("incident-2")
        with engine.begin() as conn:
            conn.execute(
                insert(IncidentRow),
                [
                    incident_row_before_backfills(1, from_alerts, NOW),
                    incident_row_before_backfills(2, by_hand, NOW),
                ],
            )
        migrate(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                select(IncidentRow.number, IncidentRow.alert_group_id).order_by(IncidentRow.number)
            )
            assert rows.all() == [(1, "alertgroup-grafana-abc"), (2, None)]
    finally:
        engine.dispose()


def test_snapshots_keep_the_alert_group_column(
    store: Store, make_state: Callable[..., IncidentState]
) -> None:
    state = make_state("alertgroup-generic-x/incident-1", alert_group_id="alertgroup-generic-x")
    number = store.register(state).number
    # A later snapshot names no group (never happens in the product, but the column must follow it).
    store.record(state.model_copy(update={"number": number, "version": 2, "alert_group_id": None}), [])
    with store.engine.connect() as conn:
        assert conn.execute(select(IncidentRow.alert_group_id)).scalar_one() is None
    store.record(state.model_copy(update={"number": number, "version": 3}), [])
    with store.engine.connect() as conn:
        assert conn.execute(select(IncidentRow.alert_group_id)).scalar_one() == "alertgroup-generic-x"


def _plans(engine: Engine, service: str | None) -> list[list[str]]:
    """EXPLAIN QUERY PLAN of every statement compute_metrics runs on SQLite, one list of steps each."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        compute_metrics(engine, NOW - timedelta(days=365), NOW, service)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert statements
    plans = []
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plans.append([str(row[-1]) for row in plan])
    return plans


def test_the_metrics_never_read_the_incident_rows_on_sqlite(tmp_path: Any) -> None:
    """Every pass over the window's incidents reads an index alone (ix_incidents_metrics, a duration's
    index or ix_incidents_uptime): a statement that reads a column its index lacks would read each row
    and its state document (seconds at 100,000 incidents). Only the postmortems' join looks incidents
    up by number, one row per postmortem.

    Without a service: with one (`--service`), SQLite's planner, which has no statistics, prefers the
    equality on ix_incidents_service_alert_name for the counts and reads that service's rows."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:
        migrate(engine)
        on_incidents = [step for plan in _plans(engine, None) for step in plan if " incidents " in f"{step} "]
        assert on_incidents
        for step in on_incidents:
            assert "USING COVERING INDEX ix_incidents_" in step or "INTEGER PRIMARY KEY" in step, step
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", [None, "api"])
def test_quantiles_groups_and_mtbf_read_their_indexes_in_order_on_sqlite(
    tmp_path: Any, service: str | None
) -> None:
    """The statements that need an order get it from an index (migration 0010), with or without a
    service: each quantile walks its duration's index, the groupings read ix_incidents_groups and
    MTBF ix_incidents_uptime; only the handful of groups are sorted."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:
        migrate(engine)
        plans = _plans(engine, service)
        walks = [plan for plan in plans if any("ix_incidents_ttd" in step for step in plan)]
        assert len(walks) == 1, plans  # every quantile in one statement
        for name in ("ttd", "tta", "ttm", "ttr"):
            assert sum(f"COVERING INDEX ix_incidents_{name} " in step for step in walks[0]) == 2, walks[0]
        assert not any("TEMP B-TREE" in step for step in walks[0]), walks[0]
        groups = [plan for plan in plans if any("per_grouping" in step for step in plan)]
        assert len(groups) == 1, plans
        assert any("COVERING INDEX ix_incidents_groups" in step for step in groups[0]), groups[0]
        # The reliability statement: its window function's layer is the subquery named "ordered".
        mtbf = [plan for plan in plans if any(step == "CO-ROUTINE ordered" for step in plan)]
        assert len(mtbf) == 1, plans
        assert any("COVERING INDEX ix_incidents_uptime" in step for step in mtbf[0]), mtbf[0]
        assert not any("TEMP B-TREE FOR ORDER BY" in step for step in mtbf[0]), mtbf[0]
    finally:
        engine.dispose()

"""Migration 0010: the numbers the metrics read (impact start and resolution as epoch seconds, TTD, TTA,
TTM and TTR in seconds) are backfilled from the timestamps and kept in step by every snapshot, on
SQLite and PostgreSQL, with sevflow.incident.milestones' definitions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from sevflow.incident.milestones import milestones
from sevflow.incident.models import IncidentState, Status
from sevflow.store.database import migrate
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentRow

from .conftest import engine_for, incident_row_before_backfills

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DETECTED = datetime(2025, 3, 3, 8, 55, 0, 250000, tzinfo=UTC)
NUMBERS = (
    IncidentRow.started_epoch,
    IncidentRow.resolved_epoch,
    IncidentRow.ttd_seconds,
    IncidentRow.tta_seconds,
    IncidentRow.ttm_seconds,
    IncidentRow.ttr_seconds,
)


def expected(state: IncidentState) -> tuple[float | None, ...]:
    m = milestones(state)
    started = state.started_at or state.detected_at
    return (
        None if started is None else started.timestamp(),
        None if state.resolved_at is None else state.resolved_at.timestamp(),
        *(None if span is None else span.total_seconds() for span in (m.ttd, m.tta, m.ttm, m.ttr)),
    )


def stored(engine: Engine, number: int) -> tuple[float | None, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(*NUMBERS).where(IncidentRow.number == number)).one())


def close_to(found: tuple[float | None, ...], wanted: tuple[float | None, ...]) -> bool:
    # SQLite's julianday() carries milliseconds: the backfill agrees with Python to about 1 ms.
    return all(
        (f is None) == (w is None) and (f is None or w is None or abs(f - w) < 0.002)
        for f, w in zip(found, wanted, strict=True)
    )


def states(make_state: Callable[..., IncidentState]) -> list[IncidentState]:
    """Every shape of milestones: all four, no impact start (started = detected), open, a clock skew
    that makes a duration negative (clamped at 0)."""
    return [
        make_state(
            "incident-1",
            detected_at=DETECTED,
            started_at=DETECTED - timedelta(minutes=4, seconds=30),
            acknowledged_at=DETECTED + timedelta(seconds=95),
            mitigated_at=DETECTED + timedelta(minutes=20),
            resolved_at=DETECTED + timedelta(hours=1, milliseconds=500),
            status=Status.RESOLVED,
        ),
        make_state(
            "incident-2", detected_at=DETECTED, started_at=None, resolved_at=DETECTED + timedelta(hours=2)
        ),
        make_state("incident-3", detected_at=DETECTED, started_at=DETECTED - timedelta(seconds=40)),
        make_state(
            "incident-4",
            detected_at=DETECTED,
            started_at=DETECTED + timedelta(seconds=30),
            acknowledged_at=DETECTED - timedelta(seconds=5),
        ),
    ]


def test_upgrade_backfills_the_numbers_from_the_timestamps(
    new_database: Callable[[], str], make_state: Callable[..., IncidentState]
) -> None:
    engine = engine_for(new_database())
    try:
        migrate(engine, "0009")
        shapes = states(make_state)
        with engine.begin() as conn:
            for number, state in enumerate(shapes, start=1):
                conn.execute(
                    insert(IncidentRow.__table__).values(incident_row_before_backfills(number, state, NOW))
                )
        migrate(engine)
        for number, state in enumerate(shapes, start=1):
            assert close_to(stored(engine, number), expected(state)), (number, stored(engine, number))
    finally:
        engine.dispose()


def test_every_snapshot_keeps_the_numbers_in_step(
    store: Store, make_state: Callable[..., IncidentState]
) -> None:
    for state in states(make_state):
        opened = state.model_copy(
            update={
                "acknowledged_at": None,
                "mitigated_at": None,
                "resolved_at": None,
                "status": Status.DETECTED,
            }
        )
        number = store.register(opened).number
        assert stored(store.engine, number) == expected(opened.model_copy(update={"number": number}))
        later = state.model_copy(update={"number": number, "version": 2})
        store.record(later, [])
        assert stored(store.engine, number) == pytest.approx(expected(later), abs=1e-6)
        # A reopen clears the resolution: its numbers go with it.
        reopened = later.model_copy(update={"resolved_at": None, "status": Status.MITIGATED, "version": 3})
        store.record(reopened, [])
        assert stored(store.engine, number) == pytest.approx(expected(reopened), abs=1e-6)

"""When each file configuration took effect (migration 0031), on SQLite and PostgreSQL, and the hours
report counting a month on the configurations in force in it (starter.oncall_feeds.hours_rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.config import parse_config
from sevflow.oncall.changes import config_version
from sevflow.oncall.live import LiveConfig
from sevflow.store.config_versions import ConfigEpoch
from sevflow.store.repository import Store
from starter.oncall_feeds import hours_rows
from tests.store.conftest import FakeClock
from tests.unit.oncall.test_hours_in_force import AFTER, BEFORE


def test_a_configuration_takes_effect_when_a_process_starts_on_another(
    store: Store, clock: FakeClock
) -> None:
    t0 = clock.now
    assert store.save_config_version("a" * 12, "A") is True
    clock.now = t0 + timedelta(hours=1)
    assert store.save_config_version("a" * 12, "A") is False  # the same file again: nothing new
    clock.now = t0 + timedelta(days=2)
    assert store.save_config_version("b" * 12, "B") is True
    clock.now = t0 + timedelta(days=5)
    assert store.save_config_version("a" * 12, "A") is False  # rolled back: in force again from now
    everything = store.config_epochs(t0 - timedelta(days=1), t0 + timedelta(days=30))
    assert everything == [
        ConfigEpoch("a" * 12, t0),
        ConfigEpoch("b" * 12, t0 + timedelta(days=2)),
        ConfigEpoch("a" * 12, t0 + timedelta(days=5)),
    ]
    assert all(e.since.tzinfo is not None for e in everything)
    # A window: the one in force at its start, then those that took effect inside it.
    assert store.config_epochs(t0 + timedelta(days=1), t0 + timedelta(days=3)) == [
        ConfigEpoch("a" * 12, t0),
        ConfigEpoch("b" * 12, t0 + timedelta(days=2)),
    ]
    assert store.config_epochs(t0 + timedelta(days=6), t0 + timedelta(days=7)) == [
        ConfigEpoch("a" * 12, t0 + timedelta(days=5))
    ]
    assert store.config_epochs(t0 - timedelta(days=3), t0 - timedelta(days=2)) == []


def test_the_hours_of_a_month_with_a_rotation_changed_mid_month(store: Store, clock: FakeClock) -> None:
    """The worker started on the old file before March and on the new one on the 15th: March 1-14 are
    alice's (the old rotation), the rest bob's and carol's, read with today's configuration."""
    clock.now = datetime(2027, 2, 20, 9, tzinfo=UTC)
    assert LiveConfig(parse_config(BEFORE), store, BEFORE).save()
    clock.now = datetime(2027, 3, 15, tzinfo=UTC)
    now = parse_config(AFTER)
    assert LiveConfig(now, store, AFTER).save()
    assert [e.version for e in store.config_epochs(clock.now, clock.now + timedelta(days=1))] == [
        config_version(now)
    ]

    rows = {r.person: r for r in hours_rows(store, now, "2027-03")}
    assert {p: r.on_call_hours for p, r in rows.items()} == {"alice": 336.0, "bob": 408.0, "carol": 408.0}
    # February: alice alone (from the 20th, and before it: the first configuration kept).
    february = {r.person: r.on_call_hours for r in hours_rows(store, now, "2027-02")}
    assert february == {"alice": 28 * 24.0, "bob": 0.0, "carol": 0.0}

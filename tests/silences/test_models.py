"""The pure parts of silences (sevflow/silences/models.py): what a request becomes or why it is refused,
and what a batch becomes under the silences active at an instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus, Route
from sevflow.policy import Severity
from sevflow.silences.models import SilenceKind, SilenceRefused, SilenceRequest, cut, new_silence

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROUTE = Route(service="checkout", team="payments", severity=Severity.SEV1)


def silence(silence_id: str = "s-1", **fields: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "matchers": ['alertname="DiskFull"'],
        "reason": "r",
        "owner": "alice",
        "length": timedelta(hours=1),
    }
    values.update(fields)
    return new_silence(SilenceRequest(**values), silence_id, NOW)  # type: ignore[arg-type]


def alert(name: str, status: AlertStatus = AlertStatus.FIRING, **labels: str) -> Alert:
    return Alert(
        fingerprint=f"fp-{name}-{status}",
        status=status,
        name=name,
        summary=name,
        labels={"alertname": name, **labels},
    )


def batch(*alerts: Alert) -> AlertBatch:
    return AlertBatch(
        source=AlertSource.ALERTMANAGER, group_key="g", alerts=list(alerts), common_labels={"env": "prod"}
    )


def refusal(**fields: object) -> str:
    with pytest.raises(SilenceRefused) as refused:
        silence(**fields)
    return str(refused.value)


def test_refusals_say_why() -> None:
    assert refusal(matchers=['alertname="X']).startswith("invalid matcher: alertname=")
    assert "needs an end" in refusal(length=None)
    assert "is in the past" in refusal(length=None, ends_at=NOW - timedelta(minutes=1))
    assert "match every alert" in refusal(matchers=["{}"])
    assert "match every alert" in refusal(matchers=['env=~".*"'])
    assert "at most 30d" in refusal(length=timedelta(days=31))
    assert "needs a reason" in refusal(reason="  ")
    assert "not both" in refusal(ends_at=NOW + timedelta(hours=1))
    assert "at least one --service" in refusal(kind=SilenceKind.MAINTENANCE)
    assert silence(matchers=["{}"], allow_all=True).matchers == []


def test_a_batch_loses_its_silenced_firing_alerts_and_keeps_the_rest() -> None:
    active = [silence()]
    held = cut(
        batch(alert("DiskFull"), alert("HighLatency"), alert("DiskFull", AlertStatus.RESOLVED)),
        ROUTE,
        active,
        NOW,
    )
    assert held.silenced == {"fp-DiskFull-firing": "s-1"}
    assert held.kept is not None and [a.fingerprint for a in held.kept.alerts] == [
        "fp-HighLatency-firing",
        "fp-DiskFull-resolved",
    ]
    whole = cut(batch(alert("DiskFull")), ROUTE, active, NOW)
    assert (whole.kept, whole.silenced, whole.names) == (None, {"fp-DiskFull-firing": "s-1"}, ["DiskFull"])


def test_only_while_active_and_only_for_its_services() -> None:
    later = silence("s-later", starts_at=NOW + timedelta(hours=1))
    assert cut(batch(alert("DiskFull")), ROUTE, [later], NOW).silenced == {}
    assert cut(batch(alert("DiskFull")), ROUTE, [later], NOW + timedelta(hours=1)).silenced == {
        "fp-DiskFull-firing": "s-later"
    }
    assert cut(batch(alert("DiskFull")), ROUTE, [later], NOW + timedelta(hours=2)).silenced == {}
    window = silence("s-m", matchers=[], services=["search"], kind=SilenceKind.MAINTENANCE)
    assert cut(batch(alert("DiskFull")), ROUTE, [window], NOW).kept is not None
    mine = silence("s-m2", matchers=['env="prod"'], services=["checkout"], kind=SilenceKind.MAINTENANCE)
    assert cut(batch(alert("DiskFull")), ROUTE, [mine], NOW).kept is None  # env comes from the common labels


@given(
    st.lists(st.sampled_from(["DiskFull", "HighLatency", "Down"]), min_size=1, max_size=6, unique=True),
    st.sampled_from(list(AlertStatus)),
)
def test_nothing_is_lost(names: list[str], status: AlertStatus) -> None:
    whole = batch(*(alert(n, status) for n in names))
    held = cut(whole, ROUTE, [silence()], NOW)
    kept = [a.fingerprint for a in held.kept.alerts] if held.kept is not None else []
    assert sorted(kept + list(held.silenced)) == sorted(a.fingerprint for a in whole.alerts)
    assert all(
        a.status is AlertStatus.FIRING and a.name == "DiskFull"
        for a in whole.alerts
        if a.fingerprint in held.silenced
    )


@pytest.mark.parametrize("field", ["reason", "owner"])
@pytest.mark.parametrize("bad", ["resize\x00", "resize \x1b[31mnow", "a\x7fb"])
def test_control_characters_are_refused(field: str, bad: str) -> None:
    """A NUL cannot be kept in PostgreSQL text and an escape sequence would reach the terminals and
    channels that show the silence: bad input, refused with the reason (a tab or a newline is fine)."""
    assert "control characters" in refusal(**{field: bad})


def test_an_edited_reason_with_control_characters_is_refused() -> None:
    from sevflow.silences.models import edited

    made = silence()
    with pytest.raises(SilenceRefused, match="control characters"):
        edited(made, NOW, ends_at=None, reason="new\x00reason")
    assert edited(made, NOW, ends_at=None, reason="two\nlines").reason == "two\nlines"

"""decide.alerts_silenced: an incident's timeline says once per silence which of its alerts a silence
held back and why, however many deliveries and in whatever order; nothing else of the incident moves,
and an incident no longer active hears nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sevflow.alerts.models import AlertsSilenced, SilencedAlerts
from sevflow.incident import decisions as decide
from sevflow.incident.models import EventKind, IncidentState, Status
from tests.unit.incident.test_decisions import declared

IDS = st.sampled_from(["s-a", "s-b", "s-c"])
NOTES = st.lists(
    st.lists(
        st.builds(
            SilencedAlerts,
            silence_id=IDS,
            reason=st.just("resizing"),
            alerts=st.lists(st.sampled_from(["DiskFull", "HighLatency"]), min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=3,
    ),
    max_size=8,
)


def told(state: IncidentState, deliveries: list[list[SilencedAlerts]]) -> tuple[IncidentState, list[str]]:
    texts: list[str] = []
    for silences in deliveries:
        decision = decide.alerts_silenced(state, AlertsSilenced(silences=silences))
        assert all(line.kind is EventKind.ALERTS_SILENCED and not line.says for line in decision.lines)
        assert decision.paging is None and decision.auto_resolve is None
        state = decision.state
        texts += [line.text for line in decision.lines]
    return state, texts


@given(NOTES)
def test_once_per_silence_whatever_the_deliveries(deliveries: list[list[SilencedAlerts]]) -> None:
    before = declared(lead="alice")
    after, texts = told(before, deliveries)
    named = list(dict.fromkeys(n.silence_id for silences in deliveries for n in silences))
    assert after.silences_noted == named
    assert [t.split(" silenced by silence ")[1].split()[0] for t in texts] == named
    untouched = before.model_dump(exclude={"silences_noted"})
    assert after.model_dump(exclude={"silences_noted"}) == untouched


def test_the_line_names_the_alerts_the_silence_and_its_reason() -> None:
    note = SilencedAlerts(silence_id="s-0a1b", reason="resizing the volume", alerts=["DiskFull"])
    _, texts = told(declared(), [[note], [note]])
    assert texts == ["alert DiskFull silenced by silence s-0a1b (resizing the volume)"]
    two = SilencedAlerts(silence_id="s-2", reason="fix", alerts=["DiskFull", "DiskSlow", "DiskFull"])
    assert told(declared(), [[two]])[1] == ["alerts DiskFull, DiskSlow silenced by silence s-2 (fix)"]


def test_an_incident_no_longer_active_hears_nothing() -> None:
    resolved = declared().model_copy(update={"status": Status.RESOLVED})
    note = SilencedAlerts(silence_id="s-1", reason="r", alerts=["X"])
    assert told(resolved, [[note]]) == (resolved, [])

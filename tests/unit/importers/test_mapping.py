"""The pure pieces of the importers: restrictions from weekly spans, lengths, names and phone numbers,
and every fault of the fixtures reported with its place in the export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from sevflow.config.schema import Restriction
from sevflow.importers.mapping import Names, duration_text, phone_number, restrictions, slug
from sevflow.importers.write import import_export
from sevflow.oncall.rotation import Schedule

FIXTURES = Path(__file__).parents[2] / "fixtures" / "import"
MONDAY = datetime(2027, 1, 4, tzinfo=UTC)  # a Monday 00:00 in UTC, which has no clock changes
WEEK = 7 * 24 * 60

spans = st.lists(st.tuples(st.integers(0, WEEK - 1), st.integers(1, WEEK + 100)), min_size=1, max_size=6)


def minutes_inside(found: list[dict[str, object]]) -> set[int]:
    """The minutes of a week (from Monday 00:00) that sevflow's own restriction math puts inside."""
    rules = tuple(Restriction.model_validate(r) for r in found)
    schedule = Schedule("l", ("x",), ZoneInfo("UTC"), timedelta(days=7), MONDAY, rules)
    inside: set[int] = set()
    for lo, hi in schedule.windows(MONDAY, MONDAY + timedelta(days=7)):
        first = int((lo - MONDAY).total_seconds() // 60)
        inside |= set(range(first, int((hi - MONDAY).total_seconds() // 60)))
    return inside


@given(spans)
def test_restrictions_cover_exactly_the_spans(given_spans: list[tuple[int, int]]) -> None:
    found = restrictions(given_spans)
    # Worked out independently: the minutes of the week each span covers, wrapping past Sunday.
    expected = {(start + i) % WEEK for start, length in given_spans for i in range(min(length, WEEK))}
    if len(expected) == WEEK:
        assert found == [] or minutes_inside(found) == expected
    else:
        assert minutes_inside(found) == expected


def test_an_overnight_weekday_span_is_cut_at_midnight() -> None:
    # Opsgenie's {startDay: friday 17:00, endDay: monday 09:00}
    found = restrictions([(4 * 1440 + 17 * 60, 2 * 1440 + 16 * 60)])
    assert found == [
        {"days": ["mon"], "from": "00:00", "to": "09:00"},
        {"days": ["fri"], "from": "17:00", "to": "00:00"},
        {"days": ["sat", "sun"], "from": "00:00", "to": "00:00"},
    ]


@given(st.integers(1, 60), st.sampled_from(["h", "d"]))
def test_rotation_lengths_read_back_as_written(count: int, unit: str) -> None:
    delta = timedelta(hours=count) if unit == "h" else timedelta(days=count)
    text = duration_text(delta)
    from sevflow.config.schema import RotationConfig

    spec = RotationConfig.model_validate({"team": "t", "length": text, "start": MONDAY, "members": ["a"]})
    assert spec.length == delta


def test_names_are_sevflow_names_and_unique() -> None:
    names = Names("layer", 16)
    assert names.add("1", "Business hours (EU)") == "business-hours-e"
    assert names.add("2", "Business hours (EU)!") == "business-hours-2"
    assert names.add("3", "!!!") == "layer-3"
    assert names.add("1", "ignored") == "business-hours-e"
    assert slug("  Ünïcode Team ") == "n-code-team"


def test_phone_numbers_are_e164() -> None:
    assert phone_number("44-7700900123") == "+447700900123"
    assert phone_number("+1 (212) 555-0100") == "+12125550100"
    assert phone_number("0") is None


def sources(vendor: str) -> dict[str, str]:
    result = import_export(vendor, FIXTURES / vendor, datetime(2026, 12, 7, tzinfo=UTC))
    return {p.source: p.reason for p in result.problems}


def test_every_pagerduty_fault_is_reported_at_its_place() -> None:
    found = sources("pagerduty")
    expected = {
        "schedules/PSCHED4.json": "not JSON",  # a file cut short
        "users.json $.users[5].email": "not as the vendor documents it",  # a malformed item
        "users.json $.users[3].time_zone": "unknown time zone",
        "schedules/PSCHED3.json $.schedule.time_zone": "unknown time zone",
        "schedules/PSCHED1.json $.schedule.schedule_layers[1].users[1]": "not in users.json (deleted?)",
        "schedules/PSCHED1/overrides.json $.overrides[1].user": "not in users.json (deleted?)",
        "schedules/PSCHED3.json $.schedule.schedule_layers[0].restrictions[0].type": "unsupported",
        "escalation_policies.json $.escalation_policies[2].escalation_rules[0].targets[0].type": "type",
        "users.json $.users[0].notification_rules[3]": "push",
        "services.json $.services[0].integrations[0]": "integration",
    }
    for source, words in expected.items():
        assert words in found.get(source, ""), (source, found.get(source))


def test_every_opsgenie_fault_is_reported_at_its_place() -> None:
    found = sources("opsgenie")
    expected = {
        "schedules/sch-spare-0004/overrides.json": "not JSON",
        "escalations.json $.data[3].rules[0].recipient": "not as the vendor documents it",
        "schedules.json $.data[4].rotations[0].startDate": "not as the vendor documents it",
        "users.json $.data[4].timeZone": "unknown time zone",
        "schedules.json $.data[3].timezone": "unknown time zone",
        "schedules.json $.data[0].rotations[0].participants[2]": "not in users.json (deleted?)",
        "schedules.json $.data[3].rotations[0].participants[1]": "type 'none'",
        "schedules.json $.data[3].rotations[0].timeRestriction.type": "unsupported time restriction",
        "schedules.json $.data[2].rotations[0].type": "unsupported rotation type",
        "users/u-ann-0001/notification-rules.json $.data[1].actionType": "unsupported rule type",
        "escalations.json $.data[1].rules[2].condition": "if-not-closed",
        "escalations.json $.data[2].rules[1].recipient": "not in users.json (deleted?)",
    }
    for source, words in expected.items():
        assert words in found.get(source, ""), (source, found.get(source))


def test_nested_escalations_become_one_ladder() -> None:
    result = import_export("opsgenie", FIXTURES / "opsgenie", datetime(2026, 12, 7, tzinfo=UTC))
    web = result.config["escalation_policies"]["web_escalation"]
    # Web schedule at 0, the SRE team's escalation from 5 (its schedule, ben at +10, Managers' dan at
    # +20), then the SRE schedule again at 60 minutes.
    assert [level.get("timeout") for level in web["levels"]] == ["5m", "10m", "10m", "35m", None]
    assert web["levels"][2]["targets"] == [{"person": "ben"}]
    assert web["levels"][3]["targets"] == [{"person": "dan"}]

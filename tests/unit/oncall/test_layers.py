"""Rotations with named layers: per-layer members, length, zone and restrictions, the `primary`/`backup`
names, `layer: any`, the gap check across layers, validation messages, and both daylight-saving changes
in Europe/Berlin and America/New_York."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sevflow.config import check_config_text, parse_config
from sevflow.config.schema import OverrideConfig, Restriction
from sevflow.oncall import Rotation, coverage_gaps, shifts, who_is_on
from sevflow.oncall.rotation import Schedule, local_instant, resolve_level

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 20, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


CONFIG = """
teams:
  web: {channel: "#web", escalation_policy: sun}
people:
  ada: {slack_id: U0ADA, email: ada@example.com, timezone: Europe/Berlin}
  bo: {slack_id: U0BO, email: bo@example.com, timezone: America/New_York}
  cy: {slack_id: U0CY, email: cy@example.com, timezone: Asia/Kolkata}
  di: {slack_id: U0DI, email: di@example.com, timezone: Asia/Kolkata}
  ed: {slack_id: U0ED, email: ed@example.com, timezone: Europe/Berlin}
rotations:
  sun:
    team: web
    length: weekly
    start: 2026-01-05T00:00:00Z
    layers:
      emea:
        members: [ada, ed]
        zone: Europe/Berlin
        start: 2026-01-05T08:00:00+01:00
        restrictions: [{from: "08:00", to: "16:00"}]
      amer:
        members: [bo]
        zone: America/New_York
        restrictions: [{from: "10:00", to: "18:00"}]
      apac:
        members: [cy, di]
        zone: Asia/Kolkata
        length: 12h
        start: 2026-01-05T00:00:00+05:30
        restrictions: [{from: "04:30", to: "12:30"}]
escalation_policies:
  sun:
    levels:
      - targets: [{rotation: sun, layer: any}]
      - targets: [{rotation: sun}]
"""


def test_follow_the_sun_reaches_whoever_is_on_in_their_own_zone_and_primary_is_the_first_layer() -> None:
    config = parse_config(CONFIG)
    r = Rotation.from_config(config, "sun")
    assert r.layers == ("emea", "amer", "apac")
    assert r.resolve("primary") == "emea" and r.resolve("backup") == "amer" and r.resolve("night") is None
    # Thu 2026-03-19 (Berlin CET, New York already EDT, Kolkata +05:30).
    at = utc("2026-03-19T10:00:00+01:00")  # 09:00Z: emea's window (07-15Z), not amer's (14-22Z)
    assert who_is_on(r, "emea", at) is not None and who_is_on(r, "amer", at) is None
    late = utc("2026-03-19T20:00:00Z")  # amer only: 16:00 EDT
    bo = who_is_on(r, "any", late)
    assert bo is not None and bo.person == "bo"
    assert bo.shift_start == utc("2026-03-19T10:00:00-04:00") and bo.shift_end == utc(
        "2026-03-19T18:00:00-04:00"
    )
    night = utc("2026-03-19T23:30:00Z")  # 05:00 in Kolkata: apac
    on = who_is_on(r, "any", night)
    assert on is not None and on.person in ("cy", "di")
    # Level 2 targets `{rotation: sun}`: the first layer only, so at night it reaches nobody.
    assert [t.person for t in resolve_level(config, "sun", 1, night)] == [None]
    assert [t.person for t in resolve_level(config, "sun", 0, night)] == [on.person]


def test_each_layer_has_its_own_length_and_members() -> None:
    r = Rotation.from_config(parse_config(CONFIG), "sun")
    # apac: 12 h shifts from Mon 00:00 IST; the 04:30-12:30 window lies in the even shifts only.
    days = [who_is_on(r, "apac", utc(f"2026-03-{d:02d}T06:00:00+05:30")) for d in (16, 17, 18, 19)]
    assert [on.person for on in days if on is not None] == ["cy", "cy", "cy", "cy"]
    # emea: weekly from Mon 08:00 Berlin, ada then ed.
    assert [
        who_is_on(r, "emea", utc(f"2026-03-{d:02d}T12:00:00+01:00")).person  # type: ignore[union-attr]
        for d in (9, 16, 23)
    ] == ["ed", "ada", "ed"]  # weeks 9, 10 and 11 from Mon 2026-01-05


def test_an_override_covers_only_its_layer_and_only_inside_the_restriction() -> None:
    config = parse_config(CONFIG)
    r = Rotation.from_config(config, "sun")
    cover = (
        OverrideConfig(
            rotation="sun",
            layer="amer",
            person="ada",
            from_=utc("2026-03-19T00:00:00Z"),
            to=utc("2026-03-20T00:00:00Z"),
        ),
    )
    pieces = shifts(r, "amer", utc("2026-03-19T00:00:00Z"), utc("2026-03-20T00:00:00Z"), cover)
    on = [(p.start, p.end, p.person) for p in pieces if p.person is not None]
    assert on == [(utc("2026-03-19T10:00:00-04:00"), utc("2026-03-19T18:00:00-04:00"), "ada")]
    assert shifts(r, "emea", utc("2026-03-19T00:00:00Z"), utc("2026-03-20T00:00:00Z"), cover) == shifts(
        r, "emea", utc("2026-03-19T00:00:00Z"), utc("2026-03-20T00:00:00Z")
    )
    # `primary` in an override is the first layer.
    first = (
        OverrideConfig(rotation="sun", layer="primary", person="bo", from_=NOW, to=NOW + timedelta(days=1)),
    )
    found = who_is_on(r, "emea", utc("2026-03-20T10:00:00+01:00"), first)
    assert found is not None and found.person == "bo" and found.via_override


def test_the_gap_check_works_across_layers_and_restrictions() -> None:
    config = parse_config(CONFIG)
    gaps = coverage_gaps(config, utc("2026-03-19T00:00:00Z"), utc("2026-03-20T00:00:00Z"))
    by_path: dict[str, list[tuple[datetime, datetime]]] = {}
    for gap in gaps:
        by_path.setdefault(gap.path, []).append((gap.start, gap.end))
    # apac 23:00Z-07:00Z, emea 07:00-15:00Z, amer 14:00-22:00Z: only 22:00-23:00Z reaches no layer.
    assert by_path["escalation_policies.sun.levels[0]"] == [
        (utc("2026-03-19T22:00:00Z"), utc("2026-03-19T23:00:00Z"))
    ]
    # The first layer alone leaves everything outside 07:00-15:00Z.
    assert by_path["escalation_policies.sun.levels[1]"] == [
        (utc("2026-03-19T00:00:00Z"), utc("2026-03-19T07:00:00Z")),
        (utc("2026-03-19T15:00:00Z"), utc("2026-03-20T00:00:00Z")),
    ]
    assert not [g for g in gaps if g.loc[0] == "rotations"]  # a restriction is meant, not a gap of its own
    covered = CONFIG.replace('to: "18:00"', 'to: "19:00"')
    gaps = coverage_gaps(parse_config(covered), utc("2026-03-19T00:00:00Z"), utc("2026-03-20T00:00:00Z"))
    assert not [g for g in gaps if g.path == "escalation_policies.sun.levels[0]"]
    # As `sevflow check` and `sevflow oncall --check` report it: the place and the first stretch.
    found = {p.path: p.message for p in check_config_text(CONFIG, now=NOW)}
    assert "level 1 reaches nobody" in found["escalation_policies.sun.levels[0]"]


def test_todays_yaml_keeps_primary_and_backup() -> None:
    text = CONFIG.replace(
        """    layers:
      emea:""",
        """    members: [ada, ed, bo]
    unused:
      emea:""",
    )
    text = text[: text.index("    unused:")] + text[text.index("escalation_policies:") :]
    text = text.replace("layer: any", "layer: backup")
    config = parse_config(text)
    r = Rotation.from_config(config, "sun")
    assert r.layers == ("primary", "backup")
    at = utc("2026-03-19T12:00:00Z")
    assert (who_is_on(r, "primary", at), who_is_on(r, "backup", at)) != (None, None)
    assert who_is_on(r, "any", at) == who_is_on(r, "primary", at)


def _messages(text: str) -> dict[str, str]:
    return {p.path: p.message for p in check_config_text(text, now=NOW)}


def test_validation_says_which_rotation_layer_and_field_is_wrong() -> None:
    bad_day = _messages(CONFIG.replace('[{from: "08:00", to: "16:00"}]', "[{days: [mon-fryday]}]"))
    assert "unknown weekday 'fryday'" in bad_day["rotations.sun.layers.emea.restrictions[0].days"]
    bad_time = _messages(CONFIG.replace('from: "10:00"', 'from: "25:00"'))
    assert "invalid time of day '25:00'" in bad_time["rotations.sun.layers.amer.restrictions[0].from"]
    bad_length = _messages(CONFIG.replace("length: 12h", "length: 0h"))
    assert list(bad_length) == ["rotations.sun.layers.apac.length"]
    bad_zone = _messages(CONFIG.replace("\n        zone: Asia/Kolkata", "\n        zone: Mars/Olympus"))
    assert list(bad_zone) == ["rotations.sun.layers.apac.zone"]
    stranger = _messages(CONFIG.replace("members: [bo]", "members: [zed]"))
    assert "zed" in stranger["rotations.sun.layers.amer.members[0]"]
    both = _messages(CONFIG.replace("    layers:\n", "    members: [ada]\n    layers:\n"))
    assert "either members (and backup) or layers" in both["rotations.sun"]
    called_any = _messages(CONFIG.replace("      amer:\n", "      any:\n"))
    assert "cannot be called 'any'" in called_any["rotations.sun"]
    unknown_key = _messages(
        CONFIG.replace("        members: [bo]\n", "        members: [bo]\n        colour: red\n")
    )
    assert list(unknown_key) == ["rotations.sun.layers.amer.colour"]
    no_layer = _messages(CONFIG.replace("{rotation: sun}", "{rotation: sun, layer: nights}"))
    message = no_layer["escalation_policies.sun.levels[1].targets[0].layer"]
    assert "has no nights layer (its layers: emea, amer, apac)" in message
    override = CONFIG + (
        "overrides:\n  - {rotation: sun, layer: nights, person: ada,"
        " from: 2026-04-01T00:00:00Z, to: 2026-04-02T00:00:00Z}\n"
    )
    assert "has no nights layer" in _messages(override)["overrides[0].layer"]


def test_restriction_days_read_ranges_and_words() -> None:
    def days(value: object) -> list[str]:
        return [d.value for d in Restriction.model_validate({"days": value}).days]

    assert days(["mon-fri"]) == ["mon", "tue", "wed", "thu", "fri"]
    assert days("weekends") == ["sat", "sun"]
    assert days(["fri-mon"]) == ["mon", "fri", "sat", "sun"]
    assert days(["sun", "sat", "sun"]) == ["sat", "sun"]
    assert Restriction.model_validate({}).overnight  # 00:00-00:00: the whole day


# --- daylight saving, both changes, both zones -----------------------------------------------------


def _layer(
    zone: ZoneInfo, restriction: dict[str, object], length: timedelta = timedelta(weeks=1)
) -> Rotation:
    rule = Restriction.model_validate(restriction)
    start = datetime(2026, 1, 5, 9, tzinfo=zone)
    return Rotation(
        "r", zone, length, start, custom=(Schedule("l", ("ada", "bo"), zone, length, start, (rule,)),)
    )


def _on(r: Rotation, lo: str, hi: str) -> list[tuple[datetime, datetime]]:
    return [(p.start, p.end) for p in shifts(r, "l", utc(lo), utc(hi)) if p.person is not None]


def test_business_hours_stay_at_local_time_across_both_berlin_changes() -> None:
    r = _layer(BERLIN, {"days": ["mon-fri"], "from": "09:00", "to": "17:00"})
    # Fri before the spring change (CET: 08-16Z), Mon after it (CEST: 07-15Z); same for autumn.
    assert _on(r, "2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z") == [
        (utc("2026-03-27T08:00:00Z"), utc("2026-03-27T16:00:00Z")),
        (utc("2026-03-30T07:00:00Z"), utc("2026-03-30T15:00:00Z")),
    ]
    assert _on(r, "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z") == [
        (utc("2026-10-23T07:00:00Z"), utc("2026-10-23T15:00:00Z")),
        (utc("2026-10-26T08:00:00Z"), utc("2026-10-26T16:00:00Z")),
    ]


def test_a_night_across_new_york_changes_is_seven_or_nine_real_hours() -> None:
    r = _layer(NEW_YORK, {"days": ["sat"], "from": "22:00", "to": "06:00"})
    assert _on(r, "2026-03-07T00:00:00Z", "2026-03-09T00:00:00Z") == [
        (utc("2026-03-07T22:00:00-05:00"), utc("2026-03-08T06:00:00-04:00"))  # 7 h
    ]
    assert _on(r, "2026-10-31T00:00:00Z", "2026-11-02T00:00:00Z") == [
        (utc("2026-10-31T22:00:00-04:00"), utc("2026-11-01T06:00:00-05:00"))  # 9 h
    ]


def test_a_skipped_wall_time_is_the_instant_the_clock_jumps_and_a_repeated_one_the_first() -> None:
    # New York, 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00Z; 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z.
    assert local_instant(datetime(2026, 3, 8).date(), datetime(2026, 1, 1, 2, 30).time(), NEW_YORK) == utc(
        "2026-03-08T07:00:00Z"
    )
    assert local_instant(datetime(2026, 11, 1).date(), datetime(2026, 1, 1, 1, 30).time(), NEW_YORK) == utc(
        "2026-11-01T01:30:00-04:00"
    )
    # Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z.
    assert local_instant(datetime(2026, 3, 29).date(), datetime(2026, 1, 1, 2, 30).time(), BERLIN) == utc(
        "2026-03-29T01:00:00Z"
    )
    daily = Rotation("d", NEW_YORK, timedelta(days=1), utc("2026-03-06T02:30:00-05:00"), ("ada", "bo"))
    assert daily.boundary(2) == utc("2026-03-08T03:00:00-04:00")  # not 03:30 EDT
    assert daily.boundary(3) == utc("2026-03-09T02:30:00-04:00")
    # A restriction edge on the skipped time opens when the clock jumps.
    r = _layer(NEW_YORK, {"days": ["sun"], "from": "02:30", "to": "04:00"})
    assert _on(r, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z") == [
        (utc("2026-03-08T07:00:00Z"), utc("2026-03-08T04:00:00-04:00"))
    ]

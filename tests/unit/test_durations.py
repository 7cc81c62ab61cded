"""Human durations: parse what people write, format the shortest text, and round-trip."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.durations import MAX_DURATION, format_duration, parse_duration

positive_seconds = st.integers(min_value=1, max_value=10 * 365 * 86400)
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@given(positive_seconds)
def test_format_then_parse_round_trips(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from("dhms")), min_size=1, max_size=5))
def test_parse_sums_the_parts_and_formats_canonically(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{number}{unit}" for number, unit in parts)
    total = sum(number * UNITS[unit] for number, unit in parts)
    if total == 0:
        with pytest.raises(ValueError, match="longer than zero"):
            parse_duration(text)
        return
    parsed = parse_duration(text)
    assert parsed == timedelta(seconds=total)
    canonical = format_duration(parsed)
    assert parse_duration(canonical) == parsed
    assert format_duration(parse_duration(canonical)) == canonical


@given(positive_seconds)
def test_format_is_the_shortest_text(seconds: int) -> None:
    text = format_duration(timedelta(seconds=seconds))
    parts = [(int(number), unit) for number, unit in re.findall(r"(\d+)([dhms])", text)]
    assert "".join(f"{number}{unit}" for number, unit in parts) == text
    units = [unit for _, unit in parts]
    assert units == sorted(set(units), key="dhms".index)  # each unit once, largest first
    limits = {"h": 24, "m": 60, "s": 60}
    for number, unit in parts:
        assert number > 0
        assert number < limits.get(unit, number + 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        (" 1H 30M ", timedelta(minutes=90)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_parse_examples(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (None, "-"),
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=3, minutes=5), "3d5m"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_format_examples(delta: timedelta | None, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize("text", ["15x", "m15", "1.5h", "15", "h", "1h 30", "tomorrow"])
def test_invalid_text_says_how_to_write_it(text: str) -> None:
    with pytest.raises(ValueError, match="write it like 90s, 15m, 1h30m or 2d"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text(text: str) -> None:
    with pytest.raises(ValueError, match="empty duration"):
        parse_duration(text)


def test_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0m")


@pytest.mark.parametrize(
    "text",
    ["999999999999d", "3651d", "87601h", "3650d1s", "9" * 5000 + "s", "1000d" * 5, "1d" * 4000],
)
def test_a_duration_past_ten_years_is_refused_with_the_limit(text: str) -> None:
    """999999999999d overflowed timedelta (OverflowError: a 500 on ea3e5ae); any length of digits is a
    ValueError that says the limit, never Python's own int or timedelta error."""
    with pytest.raises(ValueError, match="is too long: at most 3650d") as refused:
        parse_duration(text)
    assert len(str(refused.value)) < 200


def test_ten_years_is_the_default_limit_and_a_caller_may_say_less() -> None:
    assert parse_duration("3650d") == MAX_DURATION == timedelta(days=3650)
    assert parse_duration("30d", at_most=timedelta(days=30)) == timedelta(days=30)
    with pytest.raises(ValueError, match="at most 30d"):
        parse_duration("30d1s", at_most=timedelta(days=30))


@given(st.text(alphabet="0123456789dhms ", max_size=60))
def test_any_digits_and_units_parse_or_say_why(text: str) -> None:
    try:
        parsed = parse_duration(text)
    except ValueError:
        return
    assert timedelta(0) < parsed <= MAX_DURATION

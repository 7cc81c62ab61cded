"""Action items of a postmortem that name no due date: the default date, written into the document."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from sevflow.action_items import normalize_title
from sevflow.action_items.due import default_business_due
from sevflow.calendar import BusinessCalendar
from sevflow.postmortem import check_postmortem
from sevflow.postmortem.checks import fill_due_dates
from tests.unit.postmortem.test_checks import GOOD

BERLIN = BusinessCalendar(zone=ZoneInfo("Europe/Berlin"), holiday_country="DE", holiday_subdivision="BE")
TOKYO = BusinessCalendar(zone=ZoneInfo("Asia/Tokyo"), holiday_country="JP")
# Weekdays Sunday to Thursday, with one fixed holiday besides the country's.
TEL_AVIV = BusinessCalendar(
    zone=ZoneInfo("Asia/Jerusalem"),
    weekdays=frozenset({6, 0, 1, 2, 3}),
    holiday_dates=frozenset({date(2027, 1, 4)}),
)

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@given(
    created=moments,
    calendar=st.sampled_from([BERLIN, TOKYO, TEL_AVIV]),
    days=st.integers(min_value=1, max_value=60),
)
def test_the_default_due_date_is_a_business_day_at_least_the_days_later(
    created: datetime, calendar: BusinessCalendar, days: int
) -> None:
    due = default_business_due(created, calendar, timedelta(days=days))
    local = created.astimezone(calendar.zone).date()
    assert calendar.is_business_day(due)  # never a weekend or a holiday of the calendar
    assert due >= local + timedelta(days=days)
    # And no later than needed: every day between the plain date and it is no business day.
    day = local + timedelta(days=days)
    while day < due:
        assert not calendar.is_business_day(day)
        day += timedelta(days=1)


def test_a_default_date_on_a_holiday_or_weekend_moves_to_the_next_business_day() -> None:
    # 14 days after 2026-12-11 (Berlin) is Friday 25 December (Christmas), then 26th, then the weekend.
    assert default_business_due(datetime(2026, 12, 11, 10, tzinfo=UTC), BERLIN) == date(2026, 12, 28)
    # Late on the 11th in UTC is already the 12th in Tokyo: 14 days on is Saturday 26th, so Monday.
    assert default_business_due(datetime(2026, 12, 11, 20, tzinfo=UTC), TOKYO) == date(2026, 12, 28)
    # A business day stays put.
    assert default_business_due(datetime(2026, 11, 2, 10, tzinfo=UTC), BERLIN) == date(2026, 11, 16)
    # Sunday is a business day where the week starts on Sunday; the fixed holiday is skipped.
    assert default_business_due(datetime(2026, 12, 18, 10, tzinfo=UTC), TEL_AVIV) == date(2027, 1, 3)
    assert default_business_due(datetime(2026, 12, 21, 10, tzinfo=UTC), TEL_AVIV) == date(2027, 1, 5)


WITHOUT_DUES = GOOD.split("## Action items")[0] + (
    "## Action items\n\n"
    "- [ ] Make the canary stage mandatory @bob\n"
    "- [x] Roll back 4812 @alice\n"
    "- [ ] Page the database team @dave due:2026-12-03\n"
    "<!-- - [ ] Commented out @x -->\n"
    "```\n- [ ] In a fence @x\n```\n\n"
    "| Action item | Owner | Due | Status |\n"
    "|---|---|---|---|\n"
    "| Alert on checkout error rate per region | @carol | - | open |\n"
    "| Rotate the keys | @erin | | done |\n"
    "\n## Appendix\n\n- [ ] Not an action item @x\n"
)


def test_the_default_dates_are_written_beside_the_items_that_name_none() -> None:
    assert check_postmortem(WITHOUT_DUES).ok
    dues = {
        normalize_title("Make the canary stage mandatory"): date(2026, 12, 1),
        normalize_title("Alert on checkout error rate per region"): date(2026, 12, 2),
        # The parse reads items inside a fence too: so does the fill.
        normalize_title("In a fence"): date(2026, 12, 4),
        # Named by items that are done, commented out or outside the section: left alone.
        normalize_title("Rotate the keys"): date(2026, 12, 9),
        normalize_title("Commented out"): date(2026, 12, 9),
        normalize_title("Not an action item"): date(2026, 12, 9),
        normalize_title("Roll back 4812"): date(2026, 12, 9),
    }
    filled = fill_due_dates(WITHOUT_DUES, dues)
    assert "- [ ] Make the canary stage mandatory @bob due:2026-12-01\n" in filled
    assert "| Alert on checkout error rate per region | @carol | 2026-12-02 | open |\n" in filled
    assert "- [ ] In a fence @x due:2026-12-04\n" in filled
    assert (
        filled.replace(" due:2026-12-01", "")
        .replace(" due:2026-12-04", "")
        .replace(
            "| Alert on checkout error rate per region | @carol | 2026-12-02 | open |",
            "| Alert on checkout error rate per region | @carol | - | open |",
        )
        == WITHOUT_DUES
    )
    parsed = {i.title: i.due for i in check_postmortem(filled).action_items}
    assert parsed == {
        "Make the canary stage mandatory": date(2026, 12, 1),
        "Roll back 4812": None,
        "Page the database team": date(2026, 12, 3),
        "Alert on checkout error rate per region": date(2026, 12, 2),
        "In a fence": date(2026, 12, 4),
        "Rotate the keys": None,
    }


def test_a_table_without_a_due_column_gets_one() -> None:
    table = "| What | Assignee | Notes |\n|:--|:--:|---|\n| Shard the queue | @bob | a \\| b |\n| | | |\n"
    document = GOOD.split("## Action items")[0] + "## Action items\n\n" + table
    filled = fill_due_dates(document, {normalize_title("Shard the queue"): date(2026, 12, 1)})
    assert filled.endswith(
        "| What | Assignee | Notes | Due |\n"
        "|:--|:--:|---| --- |\n"
        "| Shard the queue | @bob | a \\| b | 2026-12-01 |\n"
        "|  |  |  |  |\n"
    )
    [item] = check_postmortem(filled).action_items
    assert (item.title, item.owner, item.due) == ("Shard the queue", "bob", date(2026, 12, 1))


titles = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789-'", min_size=1, max_size=30).filter(
    lambda t: bool(normalize_title(t)) and not t.strip().startswith("-")
)
dates = st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31))


@given(
    st.lists(st.tuples(titles, st.one_of(st.none(), dates), st.booleans()), max_size=8),
    dates,
    st.booleans(),
)
def test_filled_documents_read_back_with_the_default_dates(
    rows: list[tuple[str, date | None, bool]], default: date, as_table: bool
) -> None:
    if as_table:
        lines = ["| Action item | Owner | Due |", "|---|---|---|"]
        lines += [f"| {title} | @owner | {due.isoformat() if due else ''} |" for title, due, _ in rows]
    else:
        lines = [
            f"- [ ] {title} @owner" + (f" due:{due.isoformat()}" if due else "") for title, due, _ in rows
        ]
    document = GOOD.split("## Action items")[0] + "## Action items\n\n" + "\n".join(lines) + "\n"
    before = check_postmortem(document)
    wanted = {normalize_title(i.title): default for i in before.action_items if i.due is None}
    after = check_postmortem(fill_due_dates(document, wanted))
    assert after.problems == before.problems
    assert [(i.title, i.due or default) for i in before.action_items] == [
        (i.title, i.due) for i in after.action_items
    ]
    assert fill_due_dates(fill_due_dates(document, wanted), wanted) == fill_due_dates(document, wanted)

"""The action-item reminder plan: the exact times people check, and properties over many calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.action_items import (
    ACTION_ITEM_PLAN,
    POSTMORTEM_PLAN,
    ActionItem,
    ActionItemStatus,
    Reminder,
    ReminderPlan,
    close,
    new_action_item,
    next_chase,
    next_reminder,
    owner_calendar,
    record_reminder,
    reschedule,
    snooze,
)
from sevflow.calendar import BusinessCalendar
from sevflow.config import SevflowConfig
from sevflow.config.schema import BusinessHours, PersonConfig

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
US_CONFIG = SevflowConfig.model_validate({"timezone": "Europe/Berlin", "holidays": {"country": "US"}})


def person(zone: str, **extra: object) -> PersonConfig:
    return PersonConfig.model_validate(
        {"slack_id": "U0ALICE", "email": "alice@example.com", "timezone": zone, **extra}
    )


def chase(item: ActionItem, calendar: BusinessCalendar, count: int, **kwargs: object) -> list[Reminder]:
    """The first `count` reminders as the workflow would send them: ask, sleep until, send, record."""
    sent: list[Reminder] = []
    now = item.created_at
    for _ in range(count):
        reminder = next_reminder(item, now, calendar, **kwargs)  # type: ignore[arg-type]
        assert reminder is not None
        sent.append(reminder)
        item = record_reminder(item, reminder)
        now = reminder.at
    return sent


def local(reminder: Reminder, zone: ZoneInfo) -> tuple[str, str]:
    return reminder.at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M"), reminder.kind


# ---------------------------------------------------------------------------------------- examples


def test_fourteen_day_item_created_on_a_thursday_new_york_owner_with_us_holidays() -> None:
    # Created Thursday 10 December 2026 (10:00 in New York): due Thursday 24 December. Christmas
    # (Friday 25th) and New Year's Day (Friday 1st) are US holidays, and two weekends fall in between.
    calendar = owner_calendar(US_CONFIG, person("America/New_York"))
    item = new_action_item(
        7, "Add retries to checkout", "alice", datetime(2026, 12, 10, 15, 0, tzinfo=UTC), zone=NEW_YORK
    )
    assert item.due == date(2026, 12, 24)
    sent = chase(item, calendar, 7)
    assert [local(r, NEW_YORK) for r in sent] == [
        ("Tue 2026-12-22 09:00", "before_due"),  # 2 business days before the due date
        ("Thu 2026-12-24 09:00", "due"),
        # Friday 25th is Christmas, then a weekend: the first overdue business day is Monday.
        ("Mon 2026-12-28 09:00", "overdue"),
        ("Tue 2026-12-29 09:00", "overdue"),
        ("Wed 2026-12-30 09:00", "overdue"),
        # After the 3rd overdue reminder, the next slot escalates to the lead and the team channel.
        ("Thu 2026-12-31 09:00", "escalation"),
        # New Year's Day and a weekend skipped; the escalation was once, the chase goes on.
        ("Mon 2027-01-04 09:00", "overdue"),
    ]
    # 09:00 in New York is 14:00 UTC in winter.
    assert {r.at.astimezone(UTC).time() for r in sent} == {time(14, 0)}
    assert [r.business_days_overdue for r in sent] == [0, 0, 1, 2, 3, 4, 5]


def test_a_due_date_on_a_holiday_reminds_on_the_business_day_before_it() -> None:
    # Thanksgiving 2026 is Thursday 26 November; New York leaves daylight saving on 1 November.
    calendar = owner_calendar(US_CONFIG, person("America/New_York"))
    item = new_action_item(
        3,
        "Rotate keys",
        "alice",
        datetime(2026, 10, 29, 18, 0, tzinfo=UTC),
        zone=NEW_YORK,
        due=date(2026, 11, 26),
    )
    sent = chase(item, calendar, 4)
    assert [local(r, NEW_YORK) for r in sent] == [
        ("Tue 2026-11-24 09:00", "before_due"),
        ("Wed 2026-11-25 09:00", "due"),
        ("Fri 2026-11-27 09:00", "overdue"),
        ("Mon 2026-11-30 09:00", "overdue"),
    ]
    # 09:00 local stays 09:00 after the clocks went back: 14:00 UTC, not 13:00.
    assert sent[0].at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def test_an_owner_in_new_york_with_their_own_hours_is_reminded_in_them() -> None:
    # The global hours are Berlin's 09:00-18:00 on weekdays; this owner works 10:00-16:00, Monday to
    # Thursday, in New York.
    hours = {"start": "10:00", "end": "16:00", "days": ["mon", "tue", "wed", "thu"]}
    calendar = owner_calendar(US_CONFIG, person("America/New_York", business_hours=hours))
    item = new_action_item(
        9,
        "Alert on queue depth",
        "alice",
        datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        zone=NEW_YORK,
        due=date(2026, 3, 12),
    )
    sent = chase(item, calendar, 5)
    assert [local(r, NEW_YORK) for r in sent] == [
        ("Tue 2026-03-10 10:00", "before_due"),  # Thu 12th back over Wed 11th to Tue 10th
        ("Thu 2026-03-12 10:00", "due"),
        # Friday is not one of this owner's days.
        ("Mon 2026-03-16 10:00", "overdue"),
        ("Tue 2026-03-17 10:00", "overdue"),
        ("Wed 2026-03-18 10:00", "overdue"),
    ]
    # New York moved to daylight saving on 8 March: 10:00 local is 14:00 UTC now.
    assert sent[0].at == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def test_hours_and_zone_can_be_given_directly() -> None:
    calendar = BusinessCalendar(holiday_dates=frozenset({date(2026, 6, 10)}))
    item = new_action_item(
        1, "Fix dashboards", "bob", datetime(2026, 6, 1, 9, 0, tzinfo=UTC), zone=BERLIN, due=date(2026, 6, 11)
    )
    hours = BusinessHours(start=time(8, 0), end=time(12, 0))
    reminder = next_reminder(item, item.created_at, calendar, hours, "Europe/Berlin")
    assert reminder is not None
    # Two business days before Thursday 11th, skipping the holiday on Wednesday 10th: Monday 8th.
    assert local(reminder, BERLIN) == ("Mon 2026-06-08 08:00", "before_due")


def test_no_reminder_on_the_day_the_item_is_created() -> None:
    calendar = BusinessCalendar(zone=BERLIN)
    # Created on the very day the "2 days before" reminder would go out, before business hours.
    item = new_action_item(
        1, "Add a canary", "bob", datetime(2026, 6, 1, 5, 0, tzinfo=UTC), zone=BERLIN, due=date(2026, 6, 3)
    )
    reminder = next_reminder(item, item.created_at, calendar)
    assert reminder is not None
    assert local(reminder, BERLIN) == ("Wed 2026-06-03 09:00", "due")


def test_a_day_whose_hours_are_over_is_skipped_not_caught_up() -> None:
    # The worker was down through the whole first overdue day: one reminder the next morning, not two.
    calendar = BusinessCalendar(zone=BERLIN)
    item = new_action_item(
        1, "Add a canary", "bob", datetime(2026, 6, 1, 8, 0, tzinfo=UTC), zone=BERLIN, due=date(2026, 6, 3)
    )
    late = datetime(2026, 6, 4, 19, 0, tzinfo=BERLIN)  # Thursday, after closing
    reminder = next_reminder(item, late, calendar)
    assert reminder is not None
    assert local(reminder, BERLIN) == ("Fri 2026-06-05 09:00", "overdue")


def test_inside_business_hours_the_reminder_is_now() -> None:
    calendar = BusinessCalendar(zone=BERLIN)
    item = new_action_item(
        1, "Add a canary", "bob", datetime(2026, 6, 1, 8, 0, tzinfo=UTC), zone=BERLIN, due=date(2026, 6, 3)
    )
    now = datetime(2026, 6, 4, 15, 30, tzinfo=BERLIN)
    reminder = next_reminder(item, now, calendar)
    assert reminder is not None
    assert reminder.at == now.astimezone(UTC)
    assert reminder.kind == "overdue"
    # Once sent, the next one is tomorrow morning, not again today.
    after = next_reminder(record_reminder(item, reminder), now, calendar)
    assert after is not None
    assert local(after, BERLIN) == ("Fri 2026-06-05 09:00", "overdue")


def test_snooze_holds_reminders_until_it_ends_inside_business_hours() -> None:
    calendar = BusinessCalendar(zone=BERLIN)
    item = new_action_item(
        1, "Add a canary", "bob", datetime(2026, 6, 1, 8, 0, tzinfo=UTC), zone=BERLIN, due=date(2026, 6, 3)
    )
    snoozed = snooze(item, datetime(2026, 6, 8, 12, 15, tzinfo=BERLIN))
    reminder = next_reminder(snoozed, item.created_at, calendar)
    assert reminder is not None
    assert local(reminder, BERLIN) == ("Mon 2026-06-08 12:15", "overdue")
    # Snoozed past a day's closing: the next business day's opening.
    evening = snooze(item, datetime(2026, 6, 8, 20, 0, tzinfo=BERLIN))
    reminder = next_reminder(evening, item.created_at, calendar)
    assert reminder is not None
    assert local(reminder, BERLIN) == ("Tue 2026-06-09 09:00", "overdue")


def test_escalation_comes_once_per_due_date_and_again_after_a_new_one() -> None:
    calendar = BusinessCalendar(zone=BERLIN)
    item = new_action_item(
        1, "Add a canary", "bob", datetime(2026, 6, 1, 8, 0, tzinfo=UTC), zone=BERLIN, due=date(2026, 6, 3)
    )
    now = item.created_at
    kinds = []
    for _ in range(8):
        reminder = next_reminder(item, now, calendar)
        assert reminder is not None
        kinds.append(reminder.kind)
        item = record_reminder(item, reminder)
        now = reminder.at
    assert kinds == ["due", "overdue", "overdue", "overdue", "escalation", "overdue", "overdue", "overdue"]
    assert (item.reminders_sent, item.overdue_reminders, item.escalations) == (8, 7, 1)
    # The owner agrees a new date: overdue reminders count from it, and a new escalation can follow.
    item = reschedule(item, date(2026, 6, 15), by="lead", reason="blocked on the vendor", at=now)
    assert item.overdue_reminders == 0
    later = []
    for _ in range(6):
        reminder = next_reminder(item, now, calendar)
        assert reminder is not None
        later.append(local(reminder, BERLIN))
        item = record_reminder(item, reminder)
        now = reminder.at
    assert later == [
        ("Mon 2026-06-15 09:00", "due"),  # the 12th (before_due) was already gone by the reschedule
        ("Tue 2026-06-16 09:00", "overdue"),
        ("Wed 2026-06-17 09:00", "overdue"),
        ("Thu 2026-06-18 09:00", "overdue"),
        ("Fri 2026-06-19 09:00", "escalation"),
        ("Mon 2026-06-22 09:00", "overdue"),
    ]
    assert item.escalations == 2


def test_a_closed_item_gets_no_more_reminders() -> None:
    calendar = BusinessCalendar(zone=BERLIN)
    item = new_action_item(1, "Add a canary", "bob", datetime(2026, 6, 1, 8, 0, tzinfo=UTC), zone=BERLIN)
    done = close(item, ActionItemStatus.DONE, at=datetime(2026, 6, 2, tzinfo=UTC), by="bob", zone=BERLIN)
    assert next_reminder(done, datetime(2026, 6, 2, tzinfo=UTC), calendar) is None


def test_the_postmortem_plan_is_one_day_before_and_escalates_after_two() -> None:
    calendar = BusinessCalendar(zone=BERLIN)
    created = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    now, last, overdue = created, None, 0
    seen = []
    for _ in range(5):
        reminder = next_chase(
            due=date(2026, 6, 5),
            created_at=created,
            now=now,
            calendar=calendar,
            last_reminder_at=last,
            overdue_reminders=overdue,
            plan=POSTMORTEM_PLAN,
        )
        seen.append(local(reminder, BERLIN))
        overdue += reminder.kind in ("overdue", "escalation")
        now = last = reminder.at
    assert seen == [
        ("Thu 2026-06-04 09:00", "before_due"),
        ("Fri 2026-06-05 09:00", "due"),
        ("Mon 2026-06-08 09:00", "overdue"),
        ("Tue 2026-06-09 09:00", "overdue"),
        ("Wed 2026-06-10 09:00", "escalation"),
    ]


def test_spread_moves_each_item_by_a_stable_offset_inside_business_hours() -> None:
    calendar = BusinessCalendar(zone=BERLIN)
    created = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    spread = timedelta(minutes=10)
    times = []
    for n in range(1, 41):
        item = new_action_item(n, "Add a canary", "bob", created, zone=BERLIN, due=date(2026, 6, 8))
        reminder = next_reminder(item, created, calendar, spread=spread)
        again = next_reminder(item, created, calendar, spread=spread)
        assert reminder is not None and again is not None
        assert reminder.at == again.at  # the same item always gets the same slot
        opening = calendar.opening(date(2026, 6, 4))
        assert opening <= reminder.at < opening + spread
        times.append(reminder.at)
    assert len(set(times)) > 20  # 40 items spread over 600 seconds rarely share a second


def test_naive_times_are_refused() -> None:
    item = new_action_item(1, "Add a canary", "bob", datetime(2026, 6, 1, 8, 0, tzinfo=UTC), zone=BERLIN)
    with pytest.raises(ValueError, match="no time zone"):
        next_reminder(item, datetime(2026, 6, 2, 9, 0), BusinessCalendar())


def test_a_plan_cannot_count_backwards() -> None:
    with pytest.raises(ValueError):
        ReminderPlan(before_business_days=-1)
    # The numbers for action items of docs/ARCHITECTURE.md, "Default policy".
    assert (ACTION_ITEM_PLAN.before_business_days, ACTION_ITEM_PLAN.escalate_after) == (2, 3)


# ---------------------------------------------------------------------------------------- properties

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
HOURS = [(time(9), time(18)), (time(8, 30), time(17)), (time(2, 30), time(23)), (time(10), time(11))]
WEEKS = [frozenset(range(5)), frozenset({6, 0, 1, 2, 3}), frozenset({0, 2, 4})]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    start, end = draw(st.sampled_from(HOURS))
    holidays = draw(st.sets(st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 6, 30)), max_size=25))
    return BusinessCalendar(
        zone=ZoneInfo(draw(st.sampled_from(ZONES))),
        start=start,
        end=end,
        weekdays=draw(st.sampled_from(WEEKS)),
        holiday_dates=frozenset(holidays),
        holiday_country=draw(st.sampled_from([None, "US", "DE"])),
    )


created_moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 4, 30), timezones=st.just(UTC)
)


@given(
    calendar=calendars(),
    created=created_moments,
    due_after=st.integers(min_value=0, max_value=40),
    plan=st.sampled_from([ACTION_ITEM_PLAN, POSTMORTEM_PLAN, ReminderPlan(0, 0), ReminderPlan(5, 1)]),
)
def test_every_reminder_follows_the_plan(
    calendar: BusinessCalendar, created: datetime, due_after: int, plan: ReminderPlan
) -> None:
    created_day = calendar.local(created).date()
    due = created_day + timedelta(days=due_after)
    item = ActionItem(id="INC-1-x", incident_number=1, title="t", owner="o", due=due, created_at=created)
    sent = chase(item, calendar, 12, plan=plan)

    days = [r.day for r in sent]
    assert days == sorted(set(days)), "at most one reminder per local day, in order"
    assert all(d > created_day for d in days), "none on the creation day"
    for reminder in sent:
        # Each one at the opening of one of the owner's business days (nobody was awake earlier).
        assert calendar.is_business_day(reminder.day)
        assert reminder.at == calendar.opening(reminder.day)
        assert calendar.is_business_time(reminder.at)

    due_day = calendar.previous_business_day(due)
    before_day = due
    for _ in range(plan.before_business_days):
        before_day = calendar.previous_business_day(before_day, inclusive=False)
    expected: list[tuple[date, str]] = []
    if plan.before_business_days and created_day < before_day < due_day:
        expected.append((before_day, "before_due"))
    if due_day > created_day:
        expected.append((due_day, "due"))
    day = max(due, created_day)
    overdue = 0
    while len(expected) < len(sent):
        day = calendar.next_business_day(day, inclusive=False)
        expected.append((day, "escalation" if overdue == plan.escalate_after else "overdue"))
        overdue += 1
    assert [(r.day, r.kind) for r in sent] == expected


@given(
    calendar=calendars(),
    created=created_moments,
    probe=st.integers(min_value=0, max_value=60 * 24 * 30),
)
def test_a_reminder_is_never_before_now_nor_outside_business_hours(
    calendar: BusinessCalendar, created: datetime, probe: int
) -> None:
    item = ActionItem(
        id="INC-1-x",
        incident_number=1,
        title="t",
        owner="o",
        due=calendar.local(created).date(),
        created_at=created,
    )
    now = created + timedelta(minutes=probe)
    reminder = next_reminder(item, now, calendar)
    assert reminder is not None
    assert reminder.at >= now
    assert calendar.is_business_time(reminder.at)
    assert calendar.local(reminder.at).date() == reminder.day

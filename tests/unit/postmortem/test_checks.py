"""Publish checks: every missing thing named at once, and action items parsed from lists and tables."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.action_items import normalize_title
from sevflow.postmortem import check_postmortem
from sevflow.postmortem.checks import parse_action_items, split_sections
from sevflow.postmortem.draft import PLACEHOLDERS

GOOD = """# Postmortem: INC-7 Checkout returns 500s

## Summary

A bad deploy of checkout returned 500s to a third of users for 62 minutes.

## Impact

About 4,100 failed checkouts.

## Timeline

| Time (UTC) | Event | By |
|---|---|---|
| 2026-11-12 10:00 | declared | - |

## Contributing factors

The deploy skipped the canary stage because the pipeline flag defaulted to off.

## What went well

The rollback took four minutes.

## Runbook changes

None.

## Action items

- [ ] Make the canary stage mandatory @bob due:2026-12-01
- [x] Roll back 4812 @alice due:2026-11-12

| Action item | Owner | Due | Status | Ticket |
|---|---|---|---|---|
| Alert on checkout error rate per region | @carol | 2026-12-10 | open | OPS-3 |
"""


def without(section: str, text: str = GOOD) -> str:
    """`text` with one level-2 section (heading and body) removed."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = line[3:] == section
        if not skipping:
            out.append(line)
    return "\n".join(out)


def emptied(section: str, text: str = GOOD) -> str:
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = line[3:] == section
            out.append(line)
            continue
        if not skipping:
            out.append(line)
    return "\n".join(out)


def test_a_complete_document_passes_and_yields_its_action_items() -> None:
    check = check_postmortem(GOOD)
    assert check.ok, check.message()
    assert check.message() == "The postmortem is ready to publish."
    assert [(i.title, i.owner, i.due, i.done) for i in check.action_items] == [
        ("Make the canary stage mandatory", "bob", date(2026, 12, 1), False),
        ("Roll back 4812", "alice", date(2026, 11, 12), True),
        ("Alert on checkout error rate per region", "carol", date(2026, 12, 10), False),
    ]


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("Summary", "what happened"),
        ("Contributing factors", "why it happened"),
        ("Action items", "what prevents it from happening again"),
    ],
)
def test_each_missing_section_is_named(section: str, says: str) -> None:
    check = check_postmortem(without(section))
    assert [(p.code, p.subject) for p in check.problems] == [("missing_section", section)]
    assert check.problems[0].message == f"{section} is missing: add a section that says {says}"


@pytest.mark.parametrize("section", ["Summary", "Contributing factors"])
def test_each_empty_section_is_named(section: str) -> None:
    check = check_postmortem(emptied(section))
    assert [(p.code, p.subject) for p in check.problems] == [("empty_section", section)]


def test_an_action_items_section_without_items_says_so() -> None:
    check = check_postmortem(emptied("Action items"))
    assert [(p.code, p.subject) for p in check.problems] == [("no_action_items", "Action items")]


def test_optional_sections_may_be_left_out_but_not_left_as_placeholders() -> None:
    assert check_postmortem(without("What went well")).ok
    text = GOOD.replace("The rollback took four minutes.", PLACEHOLDERS["What went well"])
    check = check_postmortem(text)
    assert [(p.code, p.subject) for p in check.problems] == [("placeholder", "What went well")]
    assert (
        check.problems[0].message
        == "What went well still has the draft's placeholder: fill it in or delete it"
    )


def test_all_problems_are_reported_together() -> None:
    text = without("Summary", emptied("Contributing factors"))
    text += "\n- [ ] Add load shedding\n- [ ] Page the database team @dave due:next-week\n"
    check = check_postmortem(text)
    # No due date is no problem (publishing writes the default one); a due date that is no date is.
    assert check.missing == [
        "Summary",
        "Contributing factors",
        "Add load shedding",
        "Page the database team",
    ]
    assert [p.code for p in check.problems] == [
        "missing_section",
        "empty_section",
        "no_owner",
        "invalid_due_date",
    ]
    message = check.message()
    assert message.startswith("The postmortem cannot be published yet:\n- Summary is missing")
    assert "action item 'Add load shedding' has no owner: add @name" in message
    assert "action item 'Page the database team' has due date 'next-week', which is not a date" in message


def test_headings_people_write_for_the_same_sections_count() -> None:
    text = (
        GOOD.replace("## Summary", "## What happened")
        .replace("## Contributing factors", "## Root cause:")
        .replace("## Action items", "## Follow-ups")
    )
    assert check_postmortem(text).ok
    assert set(split_sections(text)) >= {"Summary", "Contributing factors", "Action items"}


def test_headings_inside_code_fences_and_comments_do_not_count() -> None:
    text = without("Summary") + "\n```\n## Summary\nnot a section\n```\n"
    assert check_postmortem(text).missing == ["Summary"]
    commented = emptied("Summary").replace("## Summary\n", "## Summary\n<!-- write it here -->\n")
    assert check_postmortem(commented).missing == ["Summary"]


def test_checklist_details() -> None:
    items = parse_action_items(
        "\n".join(
            [
                "* [ ] Add retries   <@U0BOB|bob> due: 2026-12-01",
                "+ [X] Fix the dashboard due:2026-11-20 @carol@example.com",
                "- [ ] Review quotas @dave due:2026-12-01.",
                "- not a checkbox @eve due:2026-12-01",
                "<!-- - [ ] Commented out @x due:2026-12-01 -->",
            ]
        )
    )
    assert [(i.title, i.owner, i.due, i.done, i.due_text) for i in items] == [
        ("Add retries", "U0BOB", date(2026, 12, 1), False, None),
        ("Fix the dashboard", "carol@example.com", date(2026, 11, 20), True, None),
        ("Review quotas", "dave", None, False, "2026-12-01."),
    ]


def test_tables_with_other_columns_and_empty_cells() -> None:
    items = parse_action_items(
        "\n".join(
            [
                "| What | Assignee | Due date | Notes |",
                "|:--|:--:|--:|---|",
                "| Shard the queue | — | 2026-12-01 | big |",
                "| Add a canary | <@U0CAROL> | | |",
                "| | @bob | 2026-12-01 | no title: not an item |",
                "",
                "| Time | Event |",
                "|---|---|",
                "| 10:00 | declared |",
            ]
        )
    )
    assert [(i.title, i.owner, i.due) for i in items] == [
        ("Shard the queue", None, date(2026, 12, 1)),
        ("Add a canary", "U0CAROL", None),
    ]


def test_an_item_in_the_list_and_the_table_is_one_item() -> None:
    table = "| Action item | Owner | Due |\n|---|---|---|\n| add retries. | | 2026-12-01 |\n"
    items = parse_action_items("- [ ] Add retries @bob\n\n" + table)
    assert [(i.title, i.owner, i.due) for i in items] == [("Add retries", "bob", date(2026, 12, 1))]


titles = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789-'", min_size=1, max_size=40).filter(
    lambda t: t.strip() and not t.strip().startswith("-")
)
owners = st.from_regex(r"[a-z][a-z0-9._-]{0,15}", fullmatch=True)
dates = st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31))


@given(st.lists(st.tuples(titles, st.one_of(st.none(), owners), st.one_of(st.none(), dates)), max_size=8))
def test_checklists_round_trip(rows: list[tuple[str, str | None, date | None]]) -> None:
    lines = []
    for title, owner, due in rows:
        parts = [f"- [ ] {title}"]
        if owner:
            parts.append(f"@{owner}")
        if due:
            parts.append(f"due:{due.isoformat()}")
        lines.append(" ".join(parts))
    check = check_postmortem(
        GOOD.split("## Action items")[0] + "## Action items\n\n" + "\n".join(lines) + "\n"
    )
    expected: dict[str, tuple[str, str | None, date | None]] = {}
    for title, owner, due in rows:
        key = normalize_title(title)
        if key and key not in expected:
            expected[key] = (" ".join(title.split()), owner, due)
        elif key:
            first = expected[key]
            expected[key] = (first[0], first[1] or owner, first[2] or due)
    assert [(i.title, i.owner, i.due) for i in check.action_items] == list(expected.values())
    problems = {(p.code, p.subject) for p in check.problems}
    for title, owner, _due in expected.values():
        assert (("no_owner", title) in problems) == (owner is None)
    assert not any(code == "invalid_due_date" for code, _ in problems)
    assert (("no_action_items", "Action items") in problems) == (not expected)


@pytest.mark.parametrize(
    "filler", ["TBD", "tbd.", "TODO", "N/A", "n/a", "WIP", "...", "?", "To be determined", "_TBD_"]
)
@pytest.mark.parametrize(
    ("section", "sentence"),
    [
        ("Summary", "A bad deploy of checkout returned 500s to a third of users for 62 minutes."),
        (
            "Contributing factors",
            "The deploy skipped the canary stage because the pipeline flag defaulted to off.",
        ),
    ],
)
def test_a_required_section_that_says_only_tbd_is_refused(section: str, sentence: str, filler: str) -> None:
    check = check_postmortem(GOOD.replace(sentence, filler))
    assert [(p.code, p.subject) for p in check.problems] == [("placeholder", section)]
    assert check.problems[0].message.startswith(f"{section} says only ")


def test_an_action_item_titled_tbd_is_refused_and_real_words_pass() -> None:
    check = check_postmortem(GOOD.replace("Make the canary stage mandatory", "TBD"))
    assert [(p.code, p.subject) for p in check.problems] == [("placeholder", "TBD")]
    assert check.problems[0].message == "action item 'TBD' says nothing: write what will be done"
    # Words that merely contain a filler are words.
    for sentence in (
        "None of the alerts fired.",
        "TBD: the canary flag defaulted to off.",
        "N/A for users; staff only.",
    ):
        assert check_postmortem(
            GOOD.replace(
                "A bad deploy of checkout returned 500s to a third of users for 62 minutes.", sentence
            )
        ).ok

"""Publish checks: the postmortem says what happened, why, and what prevents it, and every action item
has an owner (and a due date that is a date, when it names one).

A failed check lists every problem at once, each naming its section or action item, so the person
publishing fixes the document in one pass instead of one refusal at a time. The same parse yields the
action items to chase: a markdown checklist (`- [ ] title @owner due:2026-12-01`) or the draft's table.
An item that names no due date gets the default one at publishing (`fill_due_dates` writes it into the
document, so the published text shows the date that is chased).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from sevflow.action_items.models import normalize_title
from sevflow.postmortem.draft import ACTION_ITEMS, CONTRIBUTING_FACTORS, PLACEHOLDERS, SECTIONS, SUMMARY

ProblemCode = Literal[
    "missing_section",
    "empty_section",
    "placeholder",
    "no_action_items",
    "no_owner",
    "invalid_due_date",
]

# What each required section must say, in the words the refusal uses.
REQUIRED: dict[str, str] = {
    SUMMARY: "what happened",
    CONTRIBUTING_FACTORS: "why it happened",
    ACTION_ITEMS: "what prevents it from happening again",
}
# Headings people write for the same sections; compared case-folded, without trailing punctuation.
ALIASES: dict[str, str] = {
    "summary": SUMMARY,
    "what happened": SUMMARY,
    "overview": SUMMARY,
    "contributing factors": CONTRIBUTING_FACTORS,
    "root cause": CONTRIBUTING_FACTORS,
    "root causes": CONTRIBUTING_FACTORS,
    "causes": CONTRIBUTING_FACTORS,
    "why it happened": CONTRIBUTING_FACTORS,
    "action items": ACTION_ITEMS,
    "actions": ACTION_ITEMS,
    "follow-ups": ACTION_ITEMS,
    "follow ups": ACTION_ITEMS,
    "remediation": ACTION_ITEMS,
    **{name.casefold(): name for name in SECTIONS},
}


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    # The section ("Summary") or the action item's title the problem is about.
    subject: str
    message: str


@dataclass(frozen=True)
class ParsedActionItem:
    title: str
    owner: str | None
    due: date | None
    done: bool = False
    # The due text as written when it is not a date, for the refusal to quote.
    due_text: str | None = None


@dataclass(frozen=True)
class PublishCheck:
    problems: list[Problem] = field(default_factory=list)
    action_items: list[ParsedActionItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def missing(self) -> list[str]:
        """Every problem's subject, in document order: what the refusal names."""
        return [p.subject for p in self.problems]

    def message(self) -> str:
        """One sentence per problem, for Slack, the CLI and the API."""
        if self.ok:
            return "The postmortem is ready to publish."
        lines = "\n".join(f"- {p.message}" for p in self.problems)
        return f"The postmortem cannot be published yet:\n{lines}"


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CHECKLIST = re.compile(r"^\s*[-*+]\s+\[( |x|X)\]\s+(.*\S)\s*$")
_SLACK_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_OWNER = re.compile(r"(?<!\S)@(\S+)")
_DUE = re.compile(r"(?<!\S)due:\s*(\S+)", re.IGNORECASE)
# GFM: a delimiter cell is one or more hyphens with an optional colon on either side.
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_EMPTY_CELL = frozenset({"", "-", "--", "—", "n/a", "tbd", "?"})


def split_sections(markdown: str) -> dict[str, str]:
    """Level-2 sections by canonical name (aliases folded in), each body without its heading. Headings
    inside code fences do not count; a section named twice keeps both bodies."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading and len(heading.group(1)) == 2:
            name = _canonical(heading.group(2))
            current = sections.setdefault(name, [])
            continue
        if heading and len(heading.group(1)) == 1:
            current = None  # the title; text under it before any section belongs to no section
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def _canonical(heading: str) -> str:
    key = heading.strip().rstrip(":.").strip().casefold()
    return ALIASES.get(key, heading.strip())


def _meaningful(body: str) -> str:
    """The body without comments, table rulers and blank lines: what a reader actually gets."""
    text = _COMMENT.sub("", body)
    lines = [ln for ln in text.splitlines() if ln.strip() and not _TABLE_SEPARATOR.match(ln)]
    return "\n".join(lines).strip()


# What people type to get past a check without writing anything: a required section, or an action
# item's title, that says only this says nothing.
_FILLER = re.compile(
    r"^[\W_]*(?:tbd|tba|tbc|todo|to ?do|fixme|wip|n/?a|none|nothing|unknown|later|soon|coming soon"
    r"|to be (?:determined|decided|defined|done|written|added|confirmed)|\?+|\.+|-+|x+)[\W_]*$",
    re.IGNORECASE,
)


def _filler(text: str) -> bool:
    return bool(_FILLER.match(" ".join(text.split())))


def check_postmortem(markdown: str) -> PublishCheck:
    """Every problem of `markdown` and the action items it lists. At most one problem per section (the
    sections first, in the draft's order), then one per missing owner or unreadable due date of each
    item. A missing due date is no problem: publishing writes the default one (fill_due_dates)."""
    sections = split_sections(markdown)
    items = parse_action_items(sections.get(ACTION_ITEMS, ""))
    problems: list[Problem] = []
    for name in [*SECTIONS, *(n for n in sections if n not in SECTIONS)]:
        purpose = REQUIRED.get(name)
        body = sections.get(name)
        placeholder = PLACEHOLDERS.get(name)
        if body is None:
            if purpose:
                message = f"{name} is missing: add a section that says {purpose}"
                problems.append(Problem("missing_section", name, message))
        elif placeholder and placeholder in body:
            message = f"{name} still has the draft's placeholder: " + (
                f"replace it with {purpose}" if purpose else "fill it in or delete it"
            )
            problems.append(Problem("placeholder", name, message))
        elif name == ACTION_ITEMS and not items:
            message = f"{name} lists no item: say {purpose}"
            problems.append(Problem("no_action_items", name, message))
        elif purpose and not _meaningful(body):
            problems.append(Problem("empty_section", name, f"{name} is empty: say {purpose}"))
        elif purpose and name != ACTION_ITEMS and _filler(_meaningful(body)):
            said = " ".join(_meaningful(body).split())
            message = f"{name} says only {said!r}: say {purpose}"
            problems.append(Problem("placeholder", name, message))
    for item in items:
        if _filler(item.title):
            message = f"action item {item.title!r} says nothing: write what will be done"
            problems.append(Problem("placeholder", item.title, message))
        if item.owner is None:
            problems.append(
                Problem("no_owner", item.title, f"action item {item.title!r} has no owner: add @name")
            )
        if item.due_text is not None:
            message = (
                f"action item {item.title!r} has due date {item.due_text!r}, which is not a date: "
                "write due:YYYY-MM-DD"
            )
            problems.append(Problem("invalid_due_date", item.title, message))
    return PublishCheck(problems=problems, action_items=items)


def parse_action_items(body: str) -> list[ParsedActionItem]:
    """Checklist lines and table rows of an Action items section, deduplicated by normalised title
    (the first mention wins, later ones fill in a missing owner or due date). Rows still holding the
    draft's placeholder are left out: the placeholder check reports them."""
    found: dict[str, ParsedActionItem] = {}
    text = _COMMENT.sub("", body)
    for item in [*_checklist(text), *_table(text)]:
        if PLACEHOLDERS[ACTION_ITEMS] in item.title or not normalize_title(item.title):
            continue
        key = normalize_title(item.title)
        earlier = found.get(key)
        if earlier is None:
            found[key] = item
        else:
            found[key] = ParsedActionItem(
                title=earlier.title,
                owner=earlier.owner or item.owner,
                due=earlier.due or item.due,
                done=earlier.done or item.done,
                due_text=earlier.due_text if earlier.due or earlier.due_text else item.due_text,
            )
    return list(found.values())


def fill_due_dates(markdown: str, dues: Mapping[str, date]) -> str:
    """`markdown` with a due date written beside each action item that names none, from `dues` (by
    normalised title; items not in it are left alone): `due:YYYY-MM-DD` at the end of a checklist line,
    the date in an empty due cell of a table, or a Due column added to a table that has none. Only the
    lines the parse reads items from change: the Action items section's, outside comments."""
    if not dues:
        return markdown
    comments = [(m.start(), m.end()) for m in _COMMENT.finditer(markdown)]
    out: list[str] = []
    section: str | None = None
    in_fence = False
    table: _TableFill | None = None
    offset = 0
    for line in markdown.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        if _FENCE.match(body):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(body)
        if heading and len(heading.group(1)) <= 2:
            section = _canonical(heading.group(2)) if len(heading.group(1)) == 2 else None
        commented = any(c_start < offset and start < c_end for c_start, c_end in comments)
        if section != ACTION_ITEMS or heading or commented:
            out.append(line)
            table = None
            continue
        if not body.strip().startswith("|"):
            table = None
            out.append(_fill_checklist_line(body, dues) + ending)
            continue
        if table is None:
            table = _TableFill(_header(_cells(body)))
            out.append((body + " Due |" if table.add_column else body) + ending)
            continue
        out.append(table.fill(body, dues) + ending)
    return "".join(out)


def _fill_checklist_line(line: str, dues: Mapping[str, date]) -> str:
    match = _CHECKLIST.match(line)
    if match is None or match.group(1) in "xX":
        return line
    parsed = _checklist(line)
    if not parsed or parsed[0].due is not None or parsed[0].due_text is not None:
        return line
    due = dues.get(normalize_title(parsed[0].title))
    if due is None or _DUE.search(match.group(2)):
        return line
    return f"{line.rstrip()} due:{due.isoformat()}"


class _TableFill:
    """One table of the Action items section, row by row: its due cells filled, or a Due column added."""

    def __init__(self, columns: dict[str, int]) -> None:
        self.columns = columns
        self.add_column = bool(columns) and "due" not in columns

    def fill(self, line: str, dues: Mapping[str, date]) -> str:
        if not self.columns:
            return line
        if _TABLE_SEPARATOR.match(line):
            return f"{line.rstrip()} --- |" if self.add_column else line
        cells = _cells(line)
        title = _at(cells, self.columns.get("title"))
        status = _at(cells, self.columns.get("status")).casefold()
        done = status in ("done", "closed", "wont_fix", "won't fix")
        due = None if done or not title else dues.get(normalize_title(title))
        if self.add_column:
            cells.append(due.isoformat() if due else "")
        else:
            index = self.columns["due"]
            if due is None or _at(cells, index).casefold() not in _EMPTY_CELL:
                return line
            cells += [""] * (index + 1 - len(cells))
            cells[index] = due.isoformat()
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _checklist(text: str) -> list[ParsedActionItem]:
    items = []
    for line in text.splitlines():
        match = _CHECKLIST.match(line)
        if not match:
            continue
        rest = _SLACK_MENTION.sub(lambda m: f"@{m.group(1)}", match.group(2))
        owner_match = _OWNER.search(rest)
        due_match = _DUE.search(rest)
        title = rest
        for part in (due_match, owner_match):
            if part is not None:
                title = title.replace(part.group(0), " ", 1)
        due, due_text = _due(due_match.group(1) if due_match else None)
        items.append(
            ParsedActionItem(
                title=" ".join(title.split()),
                owner=owner_match.group(1) if owner_match else None,
                due=due,
                done=match.group(1) in "xX",
                due_text=due_text,
            )
        )
    return items


def _table(text: str) -> list[ParsedActionItem]:
    items: list[ParsedActionItem] = []
    columns: dict[str, int] | None = None
    for line in text.splitlines():
        if not line.strip().startswith("|"):
            columns = None
            continue
        if _TABLE_SEPARATOR.match(line):
            continue
        cells = _cells(line)
        if columns is None:
            columns = _header(cells)
            continue
        if not columns:
            continue
        title = _at(cells, columns.get("title"))
        if not title or title.casefold() in _EMPTY_CELL:
            continue
        owner = _at(cells, columns.get("owner"))
        owner = _SLACK_MENTION.sub(lambda m: m.group(1), owner).removeprefix("@").strip()
        due, due_text = _due(_at(cells, columns.get("due")))
        status = _at(cells, columns.get("status")).casefold()
        items.append(
            ParsedActionItem(
                title=title,
                owner=None if owner.casefold() in _EMPTY_CELL else owner,
                due=due,
                done=status in ("done", "closed", "wont_fix", "won't fix"),
                due_text=due_text,
            )
        )
    return items


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner.removeprefix("|")
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    cells = re.split(r"(?<!\\)\|", inner)
    return [c.strip().replace("\\|", "|") for c in cells]


def _header(cells: list[str]) -> dict[str, int]:
    """Column positions of a header row; {} when this table is not an action-item table."""
    columns: dict[str, int] = {}
    for index, name in enumerate(c.casefold() for c in cells):
        if "owner" in name or "assignee" in name:
            columns.setdefault("owner", index)
        elif "due" in name:
            columns.setdefault("due", index)
        elif "status" in name:
            columns.setdefault("status", index)
        elif "action" in name or "item" in name or "title" in name or "what" in name:
            columns.setdefault("title", index)
    return columns if "title" in columns else {}


def _at(cells: list[str], index: int | None) -> str:
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _due(text: str | None) -> tuple[date | None, str | None]:
    """(the date, None) or (None, the text when it is not a date); (None, None) when absent."""
    if text is None or text.strip().casefold() in _EMPTY_CELL:
        return None, None
    cleaned = text.strip()
    try:
        return date.fromisoformat(cleaned), None
    except ValueError:
        return None, cleaned

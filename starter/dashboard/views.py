"""Pure helpers of the dashboard: reading the list's query string, and the formats the templates use.

No I/O and no clock (`now` is passed in), so each is unit-tested on its own (tests/unit/dashboard).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from markupsafe import Markup, escape

from sevflow.incident.models import Status
from sevflow.policy import Severity
from sevflow.store.repository import IncidentFilter

PAGE_SIZE = 50
# What a missing time or number shows as: an en dash, as tables print it.
NONE = "\u2013"
_TRUE = {"1", "on", "true", "yes"}
_DRILLS = {"include", "exclude", "only"}
# Wall screens refresh themselves: at most this often, at least this rarely.
REFRESH_RANGE = (10, 3600)


@dataclass(frozen=True)
class ListQuery:
    """The incident list's filters and page as read from `?status=...&before=...`."""

    filters: IncidentFilter = field(default_factory=IncidentFilter)
    before: int | None = None
    problems: tuple[str, ...] = ()

    def query_string(self, before: int | None = None) -> str:
        """The filters (and a page) as a query string, for links that keep them."""
        f = self.filters
        pairs: list[tuple[str, str]] = [
            (name, value)
            for name, value in (
                ("status", f.status),
                ("severity", f.severity),
                ("service", f.service),
                ("team", f.team),
            )
            if value is not None
        ]
        if f.open_only:
            pairs.append(("open", "1"))
        if f.drills != "include":
            pairs.append(("drills", f.drills))
        if before is not None:
            pairs.append(("before", str(before)))
        return urlencode(pairs)

    @property
    def filtered(self) -> bool:
        return self.filters != IncidentFilter()


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """The list's query string; an empty field means "any". Values that mean nothing are reported in
    `problems` (one sentence each) and left out of the filter rather than failing the page."""
    problems: list[str] = []

    def text(name: str) -> str | None:
        value = (params.get(name) or "").strip()
        if len(value) > 255:
            problems.append(f"{name}: at most 255 characters")
            return None
        return value or None

    status = text("status")
    if status is not None and status not in {s.value for s in Status}:
        problems.append(f"status: one of {', '.join(s.value for s in Status)}")
        status = None
    severity = text("severity")
    if severity is not None:
        severity = severity.upper()
        if severity not in Severity.__members__:
            problems.append(f"severity: one of {', '.join(Severity.__members__)}")
            severity = None
    drills = text("drills") or "include"
    if drills not in _DRILLS:
        problems.append("drills: include, exclude or only")
        drills = "include"
    before: int | None = None
    if (raw := text("before")) is not None:
        if raw.isdigit() and 0 < int(raw) < 2**31:
            before = int(raw)
        else:
            problems.append("before: an incident number")
    filters = IncidentFilter.model_validate(
        {
            "status": status,
            "severity": severity,
            "service": text("service"),
            "team": text("team"),
            "open_only": (params.get("open") or "").lower() in _TRUE,
            "drills": drills,
        }
    )
    return ListQuery(filters, before, tuple(problems))


def refresh_seconds(raw: str | None) -> int | None:
    """`?refresh=60` for a wall screen: seconds between reloads, clamped to REFRESH_RANGE; None when
    absent or not a number."""
    if raw is None or not raw.strip().isdigit():
        return None
    low, high = REFRESH_RANGE
    return min(max(int(raw), low), high)


def code_spans(text: str) -> Markup:
    """A sentence written for the terminal (a command in `backticks`) as HTML: escaped, each
    backticked part in <code>, so the CLI and the page say one sentence from one source."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: the text as it is
        return Markup(escape(text))
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part) for i, part in enumerate(parts)
    )


def safe_url(url: str | None) -> str | None:
    """A link target from outside (an alert's runbook or dashboard URL) when it is http(s); None
    otherwise, so a `javascript:` URL is shown as text and never becomes a link."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def short_duration(value: timedelta | float | None) -> str:
    """A duration as a person reads it on a wall: `42s`, `17m`, `3h 5m`, `2d 4h`; NONE for none."""
    if value is None:
        return NONE
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds}s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{sign}{minutes}m" + (f" {rest}s" if rest and minutes < 10 else "")
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{sign}{hours}h" + (f" {rest // 60}m" if rest >= 60 else "")
    days, rest = divmod(seconds, 86400)
    return f"{sign}{days}d" + (f" {rest // 3600}h" if rest >= 3600 else "")


def ago(moment: datetime | None, now: datetime) -> str:
    """`5m ago`, `in 3m`, `just now`; NONE for none."""
    if moment is None:
        return NONE
    delta = now - moment
    if abs(delta) < timedelta(seconds=30):
        return "just now"
    if delta > timedelta(0):
        return f"{short_duration(delta)} ago"
    return f"in {short_duration(-delta)}"


def when(moment: datetime | None) -> str:
    """A UTC time to the minute, the zone named: the dashboard shows every time in UTC."""
    if moment is None:
        return NONE
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NONE
    return f"{value * 100:.{digits}f}%"


def severity_class(severity: str) -> str:
    """The CSS class of a severity's colour (`sev0`..`sev4`)."""
    return severity.lower() if severity.upper() in Severity.__members__ else "sev-unknown"

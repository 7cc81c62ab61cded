"""Calendar feeds and the hours report for the CLI, the API and the dashboard: a feed's secret URL (made
once, reset on demand), the feed behind a token, and the hours of a month or a range of months.

The configuration is asked for at each call (`config()`), so the runtime on-call changes of the
effective configuration show in the next fetch of a feed. The hours report counts each stretch of a
month on the configuration in force then (`config_epochs`), not today's alone.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.oncall.changes import OnCallChange, config_version, effective_config
from sevflow.oncall.feeds import (
    TOKEN_LENGTH,
    FeedKind,
    FeedNotFound,
    feed_calendar,
    feed_target,
    feed_token,
    feed_urls,
    same_digest,
    token_digest,
)
from sevflow.oncall.hours import HoursRow, InForce, hours_report, months_between, next_month, parse_month
from sevflow.store.config_versions import ConfigEpoch
from sevflow.store.feeds import FeedRepository, PageReceiptRepository, StoredFeed

log = logging.getLogger("sevflow.oncall")

_TOKEN = re.compile(rf"^[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}$")
NO_FEED = "no calendar feed here: the link is wrong or was reset; ask for the new one (sevflow oncall feed)"


class FeedLink(BaseModel):
    """A feed's secret URL, its webcal:// twin, and whether this call made or reset it."""

    kind: FeedKind
    name: str
    url: str
    webcal: str
    created_at: datetime
    reset_at: datetime | None = None
    new: bool = False
    note: str | None = None


class FeedService:
    def __init__(
        self,
        store: FeedRepository,
        config: Callable[[], SevflowConfig],
        secret: Callable[[], str],
        base_url: str,
    ) -> None:
        self.store, self.config, self.secret, self.base_url = store, config, secret, base_url

    def _link(
        self, feed: StoredFeed, kind: FeedKind, token: str, new: bool, note: str | None = None
    ) -> FeedLink:
        url, webcal = feed_urls(self.base_url, token)
        return FeedLink(
            kind=kind,
            name=feed.name,
            url=url,
            webcal=webcal,
            created_at=feed.created_at,
            reset_at=feed.reset_at,
            new=new,
            note=note,
        )

    def _token(self, kind: FeedKind, name: str, salt: str) -> str:
        return feed_token(self.secret(), kind, name, salt)

    def link(self, kind: str, name: str, reset: bool = False) -> FeedLink:
        """The feed's URL, made the first time; with `reset`, a new URL (the old one then 404s)."""
        checked, name = feed_target(self.config(), kind, name)
        found = self.store.feed(checked, name)
        if found is not None and not reset:
            token = self._token(checked, name, found.salt)
            if not same_digest(found.digest, token):
                raise FeedNotFound(
                    f"the {checked} feed of {name} cannot be shown again: the secret its URL was made with "
                    "(SEVFLOW_PAGE_LINK_SECRET or data_dir's page-link.key) changed since; reset it to make "
                    "a new URL (--reset, or POST .../reset)"
                )
            return self._link(found, checked, token, new=False)
        salt = secrets.token_urlsafe(24)
        token = self._token(checked, name, salt)
        feed, won = self.store.reset_feed(
            checked, name, found.salt if found else None, salt, token_digest(token)
        )
        if won:
            return self._link(feed, checked, token, new=True)
        # Someone else made or reset it at the same moment: theirs stands, and this caller gets it.
        winner = self._token(checked, name, feed.salt)
        note = (
            f"the {checked} feed of {name} was made or reset by someone else at the same moment: "
            "this is its URL"
        )
        return self._link(feed, checked, winner, new=False, note=note)

    def calendar(self, token: str, now: datetime) -> bytes:
        """The iCalendar text behind `token`; FeedNotFound (one sentence, whatever was wrong) otherwise.
        Looked up by the token's SHA-256 and compared in constant time."""
        if not _TOKEN.match(token):
            raise FeedNotFound(NO_FEED)
        feed = self.store.feed_by_digest(token_digest(token))
        if feed is None or not same_digest(feed.digest, token):
            raise FeedNotFound(NO_FEED)
        config = self.config()
        try:
            kind, name = feed_target(config, feed.kind, feed.name)
        except FeedNotFound as gone:
            raise FeedNotFound(f"this feed's {feed.kind} is no longer in sevflow.yaml: {gone}") from None
        return feed_calendar(config, kind, name, now)


@runtime_checkable
class ConfigHistory(Protocol):
    """Where the configurations in force over time are kept (the store)."""

    def config_epochs(self, start: datetime, end: datetime) -> list[ConfigEpoch]: ...

    def config_text(self, version: str) -> str | None: ...

    def oncall_changes(self, include_removed: bool = False) -> list[OnCallChange]: ...


# Parsed file configurations by version id: a kept text never changes under its id.
_PARSED: dict[str, SevflowConfig | None] = {}


def _file(history: ConfigHistory, version: str) -> SevflowConfig | None:
    if version not in _PARSED:
        text = history.config_text(version)
        parsed: SevflowConfig | None = None
        try:
            parsed = parse_config(text) if text is not None else None
        except Exception:
            log.warning("configuration %s no longer parses: the hours count it as today's", version)
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[version] = parsed
    return _PARSED[version]


def in_force(history: ConfigHistory, config: SevflowConfig, start: datetime, end: datetime) -> list[InForce]:
    """The configurations in force over [start, end), oldest first: each file deployed then with the
    runtime changes of now (a change applies only to its own dates), and `config` (the effective one of
    now) for the one in force now when it is the same. A file the store lacks or cannot parse counts as
    `config`; no kept history at all: `config` throughout."""
    epochs = history.config_epochs(start, end)
    if not epochs:
        return []
    changes = history.oncall_changes()
    now = config_version(config)
    found: list[InForce] = []
    for epoch in epochs:
        base = _file(history, epoch.version)
        effective = config if base is None else effective_config(base, changes)
        if config_version(effective) == now:
            effective = config
        found.append(InForce(epoch.since, effective))
    return found


def hours_rows(
    store: PageReceiptRepository, config: SevflowConfig, first: str, last: str | None = None
) -> list[HoursRow]:
    """The hours report of months `first` through `last` (default: `first` alone), `2027-03` each, each
    stretch counted on the configuration in force then when the store keeps that history."""
    months = months_between(parse_month(first), parse_month(last) if last else parse_month(first))
    # Every zone's months lie within 15 hours of UTC's.
    start = datetime.combine(months[0], time(0), tzinfo=UTC) - timedelta(hours=15)
    end = datetime.combine(next_month(months[-1]), time(0), tzinfo=UTC) + timedelta(hours=15)
    periods = in_force(store, config, start, end) if isinstance(store, ConfigHistory) else []
    return hours_report(config, months, store.page_receipts(start, end), in_force=periods)

"""Push pages through Apprise: ApprisePush (PushPort). A person's `push` address is an Apprise URL
(ntfy://, ntfys://, pover://, tgram://, matrix://, discord://...), so one adapter reaches them all.

Apprise carries nothing back, so a push carries the acknowledge link: in its text for every service,
and for ntfy also as the notification's click action, with the page's priority at `max` (the phone
rings through do-not-disturb) unless the address sets its own. Apprise answers only whether a push
went out, not why not: a failure is ProviderUnavailable and retried, and after the last attempt the
page is failed and the person's next method takes over. Apprise takes no idempotency key either, and
ntfy has none: the paging activity claims the page's send in the store before pushing and marks it sent
after (activities/paging.py `_once`), so a retried attempt after the push pushes nothing; only an
attempt killed between the push and its mark pushes again on the retry, the lesser harm.

Apprise logs every push with its URL (a topic, a chat id, a token), so its records of our pushes never
reach the log: those of a failed push become that push's error, with the address masked.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import apprise

from activities.pagers import ProviderUnavailable
from activities.webhook import PermanentPageError
from sevflow.paging.contacts import mask

log = logging.getLogger("sevflow.paging.push")

_NTFY = ("ntfy", "ntfys")
# Of an Apprise URL, the parts that are the person's (and shorter ones, which say nothing).
_PARTS = re.compile(r"[/?&=:@#,]+")


class _AppriseRecords(logging.Filter):
    """Keeps apprise's log records of our pushes out of the log (they name the push address), and
    their warnings for the push's error; other uses of apprise log as they would. A context
    variable, not a thread's: Apprise may send from its own threads, in a copy of the caller's
    context."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: ContextVar[list[str] | None] = ContextVar("sevflow_push_records", default=None)

    def filter(self, record: logging.LogRecord) -> bool:
        kept = self._kept.get()
        if kept is None:
            return True
        if record.levelno >= logging.WARNING:
            kept.append(record.getMessage())
        return False

    @contextmanager
    def keeping(self) -> Iterator[list[str]]:
        kept: list[str] = []
        token = self._kept.set(kept)
        try:
            yield kept
        finally:
            self._kept.reset(token)


_RECORDS = _AppriseRecords()
_RECORDS_LOCK = threading.Lock()


def _quiet_apprise() -> None:
    with _RECORDS_LOCK:
        apprise_log = logging.getLogger("apprise")
        if _RECORDS not in apprise_log.filters:
            apprise_log.addFilter(_RECORDS)


def push_url(url: str, click: str | None) -> str:
    """The Apprise URL a page is pushed to: for ntfy, with the acknowledge link as its click action and
    the highest priority unless the person's address sets one."""
    scheme = url.partition("://")[0].lower()
    if scheme not in _NTFY:
        return url
    query = {name.lower() for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    extra: dict[str, str] = {}
    if "priority" not in query:
        extra["priority"] = "max"
    if click is not None and "click" not in query:
        extra["click"] = click
    if not extra:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(extra, quote_via=quote, safe='')}"


def scrub(text: str, url: str) -> str:
    """`text` with the parts of the push address that are the person's (topic, user, token) masked."""
    host = urlsplit(url).hostname or ""
    rest = url.partition("://")[2]
    parts = {p for p in (unquote(x) for x in _PARTS.split(rest)) if len(p) >= 3 and p.lower() != host}
    for part in sorted(parts, key=len, reverse=True):
        text = text.replace(part, "***")
    return text


class ApprisePush:
    """PushPort: one Apprise notification per page."""

    def __init__(self) -> None:
        _quiet_apprise()

    def push(self, url: str, title: str, body: str, click: str | None, key: str) -> None:
        masked = mask("push", url)
        text = f"{body}\nAcknowledge: {click}" if click else body
        with _RECORDS.keeping() as said:
            notifier = apprise.Apprise()
            if not notifier.add(push_url(url, click)):
                raise PermanentPageError(f"the push address {masked} is not an Apprise URL that can be used")
            sent = bool(notifier.notify(body=text, title=title))
        if not sent:
            why = "; ".join(scrub(line, url) for line in said) or "no reason given"
            raise ProviderUnavailable(f"the push to {masked} did not go out: {why}")
        log.info("page %s: push to %s", key, masked)

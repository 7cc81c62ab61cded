"""Slack's text conventions: mrkdwn escaping, the `<...>` markup of incoming text, people and dates.

Slack escapes `&`, `<` and `>` in text it sends (`&amp;`, `&lt;`, `&gt;`) and wraps mentions, channel
links and URLs in `<...>`. Text we send as mrkdwn must escape those three characters the same way, or a
title like `5xx > 5%` or `<!channel>` would be read as markup.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Slack user ids: U... for people, W... for Enterprise Grid users.
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>$")
_MARKUP = re.compile(r"<([^<>]*)>")
ELLIPSIS = "…"


def escape(text: str) -> str:
    """Text as mrkdwn shows it literally: only `&`, `<` and `>` are escaped, as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ESCAPED_REF = re.compile(r"&lt;([@#])([UWCG][A-Z0-9]{2,})&gt;")
# The identity of a Slack user who is not in sevflow.yaml's people (sevflow.incident.identity).
_SLACK_IDENTITY = re.compile(r"(?<![\w:/@<])slack:([UW][A-Z0-9]{2,})\b")


def escape_keeping_mentions(text: str) -> str:
    """`escape`, except that well-formed `<@U123>` mentions and `<#C123>` channel links stay links, as
    in the sentences sevflow writes itself ("the lead is <@U123>"), and a Slack user's identity
    `slack:U123` becomes the mention `<@U123>`, which Slack shows as their display name. `<!channel>`
    never survives."""
    kept = _ESCAPED_REF.sub(lambda m: f"<{m.group(1)}{m.group(2)}>", escape(text))
    return _SLACK_IDENTITY.sub(lambda m: f"<@{m.group(1)}>", kept)


def unescape(text: str) -> str:
    """The reverse of `escape`, for text Slack sent us."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mention_id(token: str) -> str | None:
    """`<@U123|alice>` or `<@U123>` -> `U123`; None for anything else."""
    found = _MENTION.match(token.strip())
    return found.group(1) if found else None


def _plain_markup(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label.lstrip("@") or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        special = target[1:]
        if special.startswith("subteam^"):
            return label or "@" + special.removeprefix("subteam^")
        if special.startswith("date^"):
            return label or special
        return label or "@" + special
    if label:
        return f"{label} ({target})"
    return target


def to_plain(text: str) -> str:
    """Text from Slack as a person reads it: markup resolved, entities unescaped.

    `<@U1|alice>` -> `@alice`, `<#C1|general>` -> `#general`, `<!here>` -> `@here`,
    `<https://x|docs>` -> `docs (https://x)`, `&gt;` -> `>`.
    """
    return unescape(_MARKUP.sub(lambda m: _plain_markup(m.group(1)), text))


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def clip_mrkdwn(text: str, limit: int) -> str:
    """`text` escaped for mrkdwn and cut to at most `limit` characters, never inside an entity."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for char in text:
        piece = escape(char)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + ELLIPSIS


def person(who: str | None, nobody: str = "_nobody yet_") -> str:
    """Someone as mrkdwn: a Slack id as a mention (Slack shows the name), anything else as text."""
    if who is None or not who.strip():
        return nobody
    cleaned = who.strip()
    found = mention_id(cleaned)
    if found is not None:
        return f"<@{found}>"
    if SLACK_USER_ID.match(cleaned):
        return f"<@{cleaned}>"
    return escape(cleaned if cleaned.startswith("@") or "@" in cleaned else f"@{cleaned}")


def channel_ref(channel: str) -> str:
    """A channel as mrkdwn: an id as a link (Slack shows the name), a name as text."""
    cleaned = channel.strip()
    if SLACK_CHANNEL_ID.match(cleaned):
        return f"<#{cleaned}>"
    return escape(cleaned if cleaned.startswith("#") else f"#{cleaned}")


def utc(moment: datetime) -> datetime:
    """An aware UTC time; a naive one is read as UTC, the zone of every time sevflow stores."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def fallback_time(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def slack_date(moment: datetime | None, fmt: str = "{date_short_pretty} {time}", none: str = "-") -> str:
    """A time each reader sees in their own zone (`<!date^...>`), with a UTC fallback."""
    if moment is None:
        return none
    epoch = int(utc(moment).timestamp())
    return f"<!date^{epoch}^{fmt}|{fallback_time(moment)}>"

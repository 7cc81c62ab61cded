"""Alertmanager's matcher syntax, parsed strictly, for silences made at runtime.

What `amtool silence add` takes (Alertmanager 0.25's `pkg/labels` parser):

    alertname="HighLatency"        service=~"check.*"        env!="staging"      team!~"db|cache"
    {alertname="HighLatency", env!="staging"}                alertname="A",env="prod"

- A label name is `[a-zA-Z_:][a-zA-Z0-9_:]*`; the operators are `=`, `!=`, `=~` and `!~`.
- A value is "double-quoted" (escapes `\\"`, `\\\\` and `\\n`) or a bare word without spaces, commas,
  quotes or braces.
- A regex is anchored at both ends (`service=~"check"` does not match `checkout`) and must be RE2 syntax:
  lookarounds and backreferences, which Python has and Alertmanager has not, are refused.
- A label the alert does not carry is "" (so `team=""` matches alerts without a team).
- A set whose every matcher matches "" (`{}`, `env=~".*"`) silences every alert: Alertmanager refuses
  such a silence, and so does sevflow unless the caller says `--all`.

Every refusal is a `MatcherError` that names the part at fault. Matching itself is the routing table's
`Matcher` (sevflow/config/schema/routing.py), so a silence and a route read the same labels the same way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence

from sevflow.config.schema.routing import Matcher, MatchOp, Pattern

__all__ = ["MatcherError", "matches", "matches_everything", "parse_matchers", "render"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_OPS: tuple[MatchOp, ...] = ("=~", "!~", "!=", "=")
_BARE = re.compile(r"[^\s,\"'{}=!~]*")
# Python-only regex syntax that RE2 (Alertmanager's engine) refuses: lookarounds, named backreferences,
# numbered backreferences, conditionals, possessive quantifiers and atomic groups.
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=|\(|>)|\\[1-9]|[*+?}]\+")
MAX_MATCHERS = 32
MAX_TEXT = 4096


class MatcherError(ValueError):
    """A matcher that is not Alertmanager's syntax: the message names the part at fault."""


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """`{a="b",c!~"d"}`, `a="b", c!~"d"` or one matcher: the matchers, in order."""
    if len(text) > MAX_TEXT:
        raise MatcherError(f"matchers too long: at most {MAX_TEXT} characters")
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise MatcherError(f"{_short(text)}: the '{{' is not closed by a '}}'")
        body = body[1:-1]
    elif body.endswith("}"):
        raise MatcherError(f"{_short(text)}: a '}}' without its '{{'")
    found: list[Matcher] = []
    pos = _skip(body, 0)
    while pos < len(body):
        matcher, pos = _one(body, pos)
        found.append(matcher)
        pos = _skip(body, pos)
        if pos < len(body):
            if body[pos] != ",":
                raise MatcherError(
                    f"after {str(matcher)!r}: expected ',' or the end, found {body[pos:][:20]!r}"
                )
            pos = _skip(body, pos + 1)
            if pos >= len(body):
                raise MatcherError(f"{_short(text)}: a ',' with no matcher after it")
        if len(found) > MAX_MATCHERS:
            raise MatcherError(f"too many matchers: at most {MAX_MATCHERS}")
    return tuple(found)


def parse_all(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Every text's matchers, together (one silence: all must match)."""
    return tuple(m for text in texts for m in parse_matchers(text))


def _skip(body: str, pos: int) -> int:
    while pos < len(body) and body[pos].isspace():
        pos += 1
    return pos


def _one(body: str, pos: int) -> tuple[Matcher, int]:
    name = _NAME.match(body, pos)
    if name is None:
        rest = body[pos:][:20]
        raise MatcherError(f"{rest!r}: a label name is letters, digits, '_' or ':' and starts with no digit")
    pos = _skip(body, name.end())
    op = next((o for o in _OPS if body.startswith(o, pos)), None)
    if op is None:
        raise MatcherError(
            f"after label {name.group()!r}: expected one of =, !=, =~, !~, found {body[pos:][:20]!r}"
        )
    pos = _skip(body, pos + len(op))
    value, pos = _value(body, pos, name.group(), op)
    regex: Pattern | None = None
    if op in ("=~", "!~"):
        regex = _regex(name.group(), op, value)
    return Matcher(name=name.group(), op=op, value=value, regex=regex), pos


def _value(body: str, pos: int, name: str, op: str) -> tuple[str, int]:
    if pos < len(body) and body[pos] == '"':
        out: list[str] = []
        i = pos + 1
        while i < len(body):
            c = body[i]
            if c == "\\":
                if i + 1 >= len(body) or body[i + 1] not in '"\\n':
                    got = body[i : i + 2]
                    raise MatcherError(
                        f'{name}{op}: invalid escape {got!r} in the quoted value (use \\", \\\\ or \\n)'
                    )
                out.append("\n" if body[i + 1] == "n" else body[i + 1])
                i += 2
                continue
            if c == '"':
                return "".join(out), i + 1
            out.append(c)
            i += 1
        raise MatcherError(f"{name}{op}: the quoted value is not closed by a '\"'")
    bare = _BARE.match(body, pos)
    assert bare is not None  # the pattern matches the empty string
    end = bare.end()
    if end < len(body) and body[end] in "'=!~{}":
        raise MatcherError(f'{name}{op}: unexpected {body[end]!r} in the value: quote it with "..."')
    return bare.group(), end


def _regex(name: str, op: str, value: str) -> Pattern:
    if (bad := _NOT_RE2.search(value)) is not None:
        raise MatcherError(
            f"{name}{op}{_quote(value)}: {bad.group()!r} is not in Alertmanager's regex syntax (RE2)"
        )
    # RE2, as Alertmanager: matching takes linear time. Python's backtracking `re` took minutes on
    # `(x+x+)+y` against forty x's, and a silence's regex runs on every alert anyone sends. Imported
    # here, not at the top: the silence workflow's sandbox imports this module and never matches.
    import re2  # type: ignore[import-untyped]

    try:
        found: Pattern = re2.compile(f"(?:{value})", _re2_options())
    except (re2.error, OverflowError, RecursionError) as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise MatcherError(f"{name}{op}{_quote(value)}: invalid regex: {reason}") from None
    return found


@functools.cache
def _re2_options() -> object:
    import re2

    options = re2.Options()
    options.log_errors = False  # a refused regex is the caller's answer, not a line on stderr
    return options


def matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches (no matchers: everything)."""
    return all(m.matches(labels) for m in matchers)


def matches_everything(matchers: Sequence[Matcher]) -> bool:
    """Whether the set matches an alert with no labels: Alertmanager's test for a silence that would
    silence every alert (each matcher matches the empty string)."""
    return all(m.matches({}) for m in matchers)


def render(matchers: Sequence[Matcher]) -> str:
    """The set as Alertmanager writes it: `{alertname="X", env!="staging"}`; parses back to the same."""
    return "{" + ", ".join(f"{m.name}{m.op}{_quote(m.value)}" for m in matchers) + "}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")

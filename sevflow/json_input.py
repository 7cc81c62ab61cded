"""JSON from outside sevflow, parsed only once its nesting is known to be bounded.

Python's `json` recurses once per `[` or `{`: a body of 100,000 nested `{"a":` (600 KB, under the body
limit) raises RecursionError deep inside the parser, which no handler expects. Every body, form field
and cookie that holds JSON goes through `loads` here (or, for the bodies FastAPI parses itself, through
`too_deep` in the BodyLimit middleware), which refuses nesting deeper than `MAX_JSON_DEPTH` before the
parser runs. No sender sevflow knows nests deeper than about 10 (a Slack view's state, a Jira issue).

The depth is measured on the text the parser will see (bytes are decoded exactly as `json.loads`
decodes them, so UTF-16 cannot hide a bracket), with strings taken out the way JSON lexes them: an
upper bound on how deep the parser goes, in a few C-speed passes over the text (`depth`).
"""

from __future__ import annotations

import json
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64

_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


class JsonTooDeep(ValueError):
    """JSON nested deeper than the limit: refused before it is parsed."""

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def decode(data: bytes | bytearray | str) -> str:
    """The text `json.loads` parses for `data` (UnicodeDecodeError, a ValueError, when it cannot)."""
    if isinstance(data, str):
        return data
    return bytes(data).decode(json.detect_encoding(data), "surrogatepass")


def depth(text: str) -> int:
    """At least how deep a JSON parser recurses into `text` (exact for valid JSON; for invalid JSON
    never less than the depth the parser reaches before it fails).

    Strings are taken out the way JSON lexes them, with C-speed string operations only: escaped
    backslashes go first, then escaped quotes, so every quote left opens or closes a string, and the
    text between the even and odd quotes is what lies outside strings (an unterminated string runs to
    the end, as the parser reads it). A backslash outside a string is where the parser stops."""
    unescaped = text.replace("\\\\", "").replace('\\"', "") if "\\" in text else text
    outside = "".join(unescaped.split('"')[0::2])
    brackets = outside.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    # Fewer brackets than the limit in the whole text, strings included: cannot be too deep.
    if text.count("[") + text.count("{") <= limit:
        return False
    return depth(text) > limit


def loads(data: bytes | bytearray | str, limit: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads`, but JsonTooDeep (a ValueError) for nesting deeper than `limit`, checked first."""
    text = decode(data)
    if too_deep(text, limit):
        raise JsonTooDeep(limit)
    return json.loads(text)

"""sevflow.json_input: the depth it measures is the depth a JSON parser reaches, never less, so a text
it lets through cannot send `json.loads` into RecursionError (docs/SECURITY.md, "Input limits")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevflow.json_input import MAX_JSON_DEPTH, JsonTooDeep, depth, loads, too_deep

# Strings full of what a naive bracket count would miscount: brackets, quotes and backslashes.
TRICKY_TEXT = st.text(alphabet=st.sampled_from(list('[]{}"\\/ abu0')), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=30,
)


def nesting(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(VALUES, st.booleans())
def test_the_depth_of_valid_json_is_its_nesting(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert depth(text) == nesting(value)
    assert too_deep(text, limit=nesting(value)) is False
    if nesting(value) > 0:
        assert too_deep(text, limit=nesting(value) - 1) is True


def _parser_depth_of_prefix(text: str) -> int:
    """How deep a parser that read `text` as the start of a document got, at most: brackets outside
    strings, up to a backslash outside a string (where every JSON parser stops)."""
    deepest = level = 0
    in_string = escaped = False
    for char in text:
        if not in_string and char == "\\":
            break
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


@settings(max_examples=300, deadline=None)
@given(VALUES, st.data())
def test_a_truncated_document_is_never_measured_shallower_than_the_parser_reads_it(
    value: Any, data: st.DataObject
) -> None:
    """A body cut short (or never closed: `[[[[...`) is what the parser recurses into before failing."""
    text = json.dumps(value)
    cut = data.draw(st.integers(0, len(text)))
    assert depth(text[:cut]) >= _parser_depth_of_prefix(text[:cut])


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('[]{}"\\a:,')), max_size=80))
def test_any_text_is_measured_at_least_as_deep_as_a_parser_reads_it(text: str) -> None:
    """Arbitrary bracket, quote and backslash soup: the measure never falls below the reference lexer."""
    assert depth(text) >= _parser_depth_of_prefix(text)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b"[" * 5_000,  # never closed: the parser recurses as deep before it fails
        ("[" * 5_000).encode("utf-16"),  # decoded as json.loads decodes it: no bracket is hidden
        b'["a\\"b\\\\",' + b"[" * 5_000,  # \" does not end a string, \\" does
        b'{"a":"x"}' + b"[" * 5_000,
    ],
    ids=["100k-objects", "unclosed", "utf-16", "escaped-quote", "after-a-document"],
)
def test_deep_nesting_is_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(JsonTooDeep, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        loads(body)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"title": "[" * 10_000, "note": '\\"{{{' * 1_000})
    assert depth(text) == 1
    assert loads(text)["title"] == "[" * 10_000


def test_nesting_up_to_the_limit_is_parsed() -> None:
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert nesting(loads(text)) == MAX_JSON_DEPTH
    with pytest.raises(JsonTooDeep):
        loads("[" + text + "]")


def test_not_json_is_a_value_error_as_json_loads_says() -> None:
    with pytest.raises(ValueError):
        loads(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError):
        loads("{")

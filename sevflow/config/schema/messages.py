"""Pydantic's errors as sentences for the person editing sevflow.yaml."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from sevflow.config.schema.fields import shown

_TYPE_WORDS = {
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "timedelta_type": "a duration like 15m",
    "time_type": "a time of day like 09:00",
}


def humanize(err: ErrorDetails, root: type[BaseModel]) -> str:
    """One pydantic error of `root` (SevflowConfig) as a sentence for the person editing sevflow.yaml."""
    kind = err["type"]
    loc = err["loc"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        message = f"unknown key {key!r}"
        allowed = allowed_keys(loc[:-1], root)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6) or _part_matches(key, allowed)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif allowed:
            message += f" (allowed here: {', '.join(allowed)})"
        return message
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}" if loc else "missing required value"
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error")
        text = str(error) if error is not None else err["msg"]
        return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "literal_error":
        return f"invalid value {shown(value)}: choose one of {ctx.get('expected', '')}"
    if kind == "enum":
        return f"invalid value {shown(value)}: choose one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"invalid name {shown(value)}: use letters, digits, '-', '_' and '.'"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        return f"must be {words} {limit}, not {shown(value)}"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, not {shown(value)}"
    return str(err["msg"])


def _part_matches(key: str, allowed: list[str]) -> list[str]:
    """`cadense` -> `update_cadence`: a typo of one word of a longer key."""
    for name in allowed:
        if difflib.get_close_matches(key, name.split("_"), n=1, cutoff=0.8):
            return [name]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional; for other unions keep the first model or mapping member."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin is Union or origin is types.UnionType:
            members = [a for a in get_args(annotation) if a is not type(None)]
            annotation = next(
                (a for a in members if _is_model(_unwrap(a)) or get_origin(_unwrap(a)) is dict),
                members[0] if members else None,
            )
            continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def allowed_keys(loc: tuple[int | str, ...], root: type[BaseModel]) -> list[str]:
    """The keys a mapping at `loc` accepts, when it is a model; [] when any key goes (or unknown)."""
    annotation: Any = root
    hints_cache: dict[type[BaseModel], dict[str, Any]] = {}
    for part in loc:
        annotation = _unwrap(annotation)
        if _is_model(annotation):
            hints = hints_cache.setdefault(annotation, typing.get_type_hints(annotation, include_extras=True))
            names = {(f.alias or name): name for name, f in annotation.model_fields.items()}
            if str(part) not in names:
                return []
            name = names[str(part)]
            annotation = hints.get(name, annotation.model_fields[name].annotation)
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) in (list, tuple) and isinstance(part, int):
            annotation = get_args(annotation)[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if not _is_model(annotation):
        return []
    return [f.alias or name for name, f in annotation.model_fields.items()]

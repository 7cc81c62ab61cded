"""Reading an export directory: files, JSON paths and the problems a partial export has.

Every item is validated on its own against the vendor's documented shape (a pydantic model per object,
unknown fields ignored), so one bad schedule is reported with its place and the others are imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class At:
    """A place in the export: a file (relative to the export directory) and a JSON path in it."""

    file: str
    path: tuple[str | int, ...] = ()

    def __truediv__(self, part: str | int) -> At:
        return At(self.file, (*self.path, part))

    def __str__(self) -> str:
        text = "$"
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return f"{self.file} {text}" if self.path else self.file


@dataclass(frozen=True)
class Problem:
    """Something of the export that was not carried over as it was: where, why, and what to do."""

    at: At
    reason: str
    instead: str

    @property
    def source(self) -> str:
        return str(self.at)

    def line(self) -> str:
        return f"{self.at}: {self.reason}; {self.instead}"


@dataclass
class ExportReader:
    """Reads the JSON files of an export directory, noting every problem instead of stopping."""

    root: Path
    problems: list[Problem] = field(default_factory=list)

    def problem(self, at: At, reason: str, instead: str) -> None:
        """Note a problem once (a nested escalation is read once per escalation that names it)."""
        found = Problem(at, reason, instead)
        if found not in self.problems:
            self.problems.append(found)

    def read(self, name: str, required: bool = True) -> Any | None:
        """The JSON in `name` (a path relative to the export), or None when it is missing or unreadable
        (a problem, unless an optional file is simply absent)."""
        path = self.root / name
        at = At(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if required:
                self.problem(at, "missing from the export", "run the fetch script again (README)")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(at, f"cannot be read ({type(exc).__name__})", "run the fetch script again")
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.problem(
                at,
                f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                "run the fetch script again; the file may have been cut short",
            )
            return None
        except RecursionError:
            self.problem(at, "nested too deeply to read", "run the fetch script again")
            return None

    def items(self, name: str, key: str, model: type[M], required: bool = True) -> Iterator[tuple[At, M]]:
        """Each item of the list under `key` in file `name`, validated against `model`; an item that does
        not validate is a problem naming its first wrong field, and the others are still given."""
        data = self.read(name, required)
        if data is None:
            return
        at = At(name)
        listed = data.get(key) if isinstance(data, dict) else None
        if not isinstance(listed, list):
            self.problem(at, f"has no list under {key!r}", "run the fetch script again")
            return
        for index, raw in enumerate(listed):
            item_at = at / key / index
            found = self.validate(item_at, raw, model)
            if found is not None:
                yield item_at, found

    def one(self, name: str, key: str, model: type[M], required: bool = True) -> tuple[At, M] | None:
        """The object under `key` in file `name` (a get endpoint's answer), validated against `model`."""
        data = self.read(name, required)
        if data is None:
            return None
        at = At(name) / key
        raw = data.get(key) if isinstance(data, dict) else None
        if raw is None:
            self.problem(At(name), f"has no {key!r}", "run the fetch script again")
            return None
        found = self.validate(at, raw, model)
        return (at, found) if found is not None else None

    def validate(self, at: At, raw: Any, model: type[M]) -> M | None:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = at
            for part in first["loc"]:
                where = where / part
            what = first["msg"][:1].lower() + first["msg"][1:]
            self.problem(
                where,
                f"not as the vendor documents it ({what}); the item is left out",
                "fix or remove it in the source and fetch again",
            )
            return None

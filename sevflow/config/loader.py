"""Reading and checking sevflow.yaml.

`check_config` reports every problem of a file in one pass, each with the dotted path of the setting,
the line it is on and a sentence saying what to write instead. `load_config` returns the typed config
or raises `InvalidConfig` (a `ConfigError`) carrying all of those problems.

The YAML is read with YAML 1.2 scalars rather than PyYAML's YAML 1.1 defaults: only true/false are
booleans (so `status_page: no`, `update_cadence: off` and `country: NO` stay text) and `18:00` is text,
not the base-60 number 1080.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sevflow.config.schema import SevflowConfig
from sevflow.errors import ConfigError

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file. `line` and `column` are 1-based; None when not tied to a place."""

    path: str
    line: int | None
    message: str
    column: int | None = None

    def format(self, filename: str | os.PathLike[str] = "sevflow.yaml") -> str:
        """`sevflow.yaml:12: services.checkout.team: team 'pay' is not defined in teams`."""
        where = os.fspath(filename)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InvalidConfig(ConfigError):
    """sevflow.yaml has problems; the message lists them all, one per line."""

    def __init__(self, filename: str, problems: list[ConfigProblem]) -> None:
        self.filename = filename
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = [f"{filename} has {count}:"] + [f"  {p.format(filename)}" for p in problems]
        super().__init__("\n".join(lines))


def load_config(path: Path | None) -> SevflowConfig:
    """The config in `path`, or the built-in defaults when `path` is None.

    Raises InvalidConfig (a ConfigError) listing every problem found.
    """
    if path is None:
        return SevflowConfig()
    config, problems = _read(path)
    if problems or config is None:
        raise InvalidConfig(str(path), problems)
    return config


def config_source(path: Path | None) -> str | None:
    """The text `load_config(path)` read (None for the built-in defaults, or when it cannot be read
    again): what the store keeps under the configuration's version id (pinned policies)."""
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def check_config(path: Path, now: datetime | None = None) -> list[ConfigProblem]:
    """Every problem in the file at `path`; [] when it is valid.

    A valid file is also checked for on-call coverage gaps in the 14 days from `now` (default: the
    clock): each gap is a problem at the rotation or escalation policy level that reaches nobody.
    """
    return _read(path, coverage_from=now or datetime.now(UTC))[1]


def parse_config(text: str, filename: str = "sevflow.yaml") -> SevflowConfig:
    """The config written in `text`; raises InvalidConfig like `load_config`."""
    config, problems = _parse(text)
    if problems or config is None:
        raise InvalidConfig(filename, problems)
    return config


def check_config_text(text: str, now: datetime | None = None) -> list[ConfigProblem]:
    """Every problem in config text, coverage gaps included (as `check_config`); [] when it is valid."""
    return _parse(text, coverage_from=now or datetime.now(UTC))[1]


def load_yaml(text: str) -> Any:
    """`text` as sevflow.yaml is read (YAML 1.2 scalars: `18:00` is text, `no` is not false), without
    checking it: for tools that rewrite part of a file (`sevflow import`)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: YAML 1.2 scalars, no Python objects


# --- reading ---------------------------------------------------------------------------------------


def _read(
    path: Path, coverage_from: datetime | None = None
) -> tuple[SevflowConfig | None, list[ConfigProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [ConfigProblem("", None, f"no such file: {path}")]
    except IsADirectoryError:
        return None, [ConfigProblem("", None, f"{path} is a directory, not a config file")]
    except PermissionError:
        return None, [ConfigProblem("", None, f"cannot read {path}: permission denied")]
    except UnicodeDecodeError as exc:
        return None, [ConfigProblem("", None, f"{path} is not UTF-8 text (byte {exc.start})")]
    return _parse(text, coverage_from)


def _parse(
    text: str, coverage_from: datetime | None = None
) -> tuple[SevflowConfig | None, list[ConfigProblem]]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(exc)]
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks all parse errors
        return None, [ConfigProblem("", None, f"YAML syntax error: {exc}")]
    finally:
        loader.dispose()

    if root is None or data is None:
        return SevflowConfig(), []
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else f"the value {_short(data)}"
        message = (
            "the top level must be a mapping of sections like timezone, business_hours, teams and "
            f"services, not {kind}"
        )
        return None, [ConfigProblem("", _line(root), message)]

    problems = _duplicate_keys(root)
    try:
        config = SevflowConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = err["loc"]
            problems.append(ConfigProblem(_dotted(loc), _line_of(root, loc), err["msg"]))
        return None, _sorted(problems)
    if problems:
        return None, _sorted(problems)
    if coverage_from is not None:
        gaps = _coverage_problems(config, root, coverage_from)
        if gaps:
            return config, _sorted(gaps)
    return config, []


def _coverage_problems(config: SevflowConfig, root: yaml.Node, now: datetime) -> list[ConfigProblem]:
    """Coverage gaps in the next 14 days, one problem per place (the first gap, and how many more)."""
    from sevflow.oncall.rotation import COVERAGE_HORIZON, coverage_gaps, idle_overrides

    by_place: dict[tuple[Loc, str], list[tuple[datetime, datetime]]] = {}
    for gap in coverage_gaps(config, now, now + COVERAGE_HORIZON):
        by_place.setdefault((gap.loc, gap.message), []).append((gap.start, gap.end))
    problems: list[ConfigProblem] = []
    for (loc, message), spans in by_place.items():
        start, end = spans[0]
        text = f"coverage gap: {message}, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        if len(spans) > 1:
            text += f" (and {len(spans) - 1} more in the next 14 days)"
        problems.append(ConfigProblem(_dotted(loc), _line_of(root, loc), text))
    for index, message in idle_overrides(config, now):
        loc = ("overrides", index, "replaces")
        problems.append(ConfigProblem(_dotted(loc), _line_of(root, loc), message))
    return problems


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: (p.line if p.line is not None else 0, p.path))


def _syntax_problem(exc: yaml.MarkedYAMLError) -> ConfigProblem:
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or "cannot read this"
    message = f"YAML syntax error: {what}"
    if exc.context:
        context_line = f" (line {exc.context_mark.line + 1})" if exc.context_mark else ""
        message += f", {exc.context}{context_line}"
    if mark is None:
        return ConfigProblem("", None, message)
    return ConfigProblem("", mark.line + 1, message, column=mark.column + 1)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- locations -------------------------------------------------------------------------------------


def _dotted(loc: Loc) -> str:
    """('services', 'checkout', 'policy', 'SEV1', 'update_cadence') -> services.checkout.policy..."""
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int) and not isinstance(part, bool) and text:
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """The line of the node at `loc`; the nearest existing ancestor's line when it is missing."""
    node = root
    line = _line(root)
    for part in loc:
        if part == "[key]":
            break
        if isinstance(node, yaml.MappingNode):
            found: tuple[yaml.Node, yaml.Node] | None = None
            for key, value in node.value:  # the last one wins, as when YAML builds the mapping
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    found = (key, value)
            if found is None:
                break
            line = _line(found[0])
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = _line(node)
        else:
            break
    return line


def _duplicate_keys(root: yaml.Node) -> list[ConfigProblem]:
    """YAML keeps only the last of two equal keys; that is nearly always a mistake, so say so."""
    problems: list[ConfigProblem] = []
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node, loc: Loc) -> None:
        if id(node) in seen_nodes:
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                if key.value in first_line:
                    problems.append(
                        ConfigProblem(
                            _dotted((*loc, key.value)),
                            _line(key),
                            f"duplicate key {key.value!r} (first on line {first_line[key.value]}): "
                            "only one of them would be used",
                        )
                    )
                else:
                    first_line[key.value] = _line(key)
                walk(value, (*loc, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*loc, index))

    walk(root, ())
    return problems


# --- YAML 1.2 scalars ------------------------------------------------------------------------------

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's yes/no/on/off booleans and base-60 integers."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _INT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)

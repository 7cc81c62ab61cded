"""The sevflow.yaml an import writes: the imported sections merged into the file already there (its
other sections, and entries of the same sections the export does not name, kept), deterministic
so that importing the same export again writes the same text; the diff against the old text; and
the check the result must pass (`sevflow config check`'s)."""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from sevflow.config.loader import ConfigProblem, check_config_text, load_yaml
from sevflow.errors import SevflowError
from sevflow.importers import opsgenie, pagerduty
from sevflow.importers.export import ExportReader
from sevflow.importers.mapping import SECTIONS, ImportResult

VENDORS = ("opsgenie", "pagerduty")
# Sections whose imported entry is laid over the entry of the same name already there: what the export
# says replaces, what it cannot say stays (a team's channel and escalation target, a person's Slack id
# without slack_users.json, their business hours, a service's severity policy). Replaced whole, a
# team's channel went and every policy paging that channel failed the check: the shipped file took no
# PagerDuty import. Rotations and escalation policies are replaced whole (their layers and levels are
# the export's).
LAID_OVER = ("people", "teams", "services")


class ImportRefused(SevflowError):
    """An import that cannot start: no such directory, an unknown vendor, an unreadable target file."""


def import_export(vendor: str, root: Path, now: datetime) -> ImportResult:
    """Read the export of `vendor` in `root` and map it (problems in the result)."""
    if vendor not in VENDORS:
        raise ImportRefused(f"unknown vendor {vendor!r}: one of {', '.join(VENDORS)}")
    if not root.exists():
        raise ImportRefused(f"no such directory: {root}")
    if not root.is_dir():
        raise ImportRefused(f"{root} is not a directory: name the directory the fetch script wrote")
    reader = ExportReader(root)
    if vendor == "pagerduty":
        return pagerduty.convert(reader, pagerduty.load(reader), now)
    return opsgenie.convert(reader, opsgenie.load(reader), now)


def read_existing(path: Path) -> str | None:
    """The text of the sevflow.yaml to merge into; None when there is none yet."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"cannot read {path}: {exc}") from None


def merged_text(existing: str | None, result: ImportResult) -> str:
    """sevflow.yaml with the imported sections: each imported rotation and policy replaces the one of
    the same name, an imported person, team or service is laid over it (`LAID_OVER`), the others
    stay, and every other section stays as it was (its comments do not: the file is written anew)."""
    data: dict[str, Any] = {}
    if existing:
        try:
            loaded = load_yaml(existing)
        except yaml.YAMLError as exc:
            raise ImportRefused(
                f"the existing sevflow.yaml is not YAML ({exc}): fix or move it first"
            ) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ImportRefused("the existing sevflow.yaml is not a mapping: fix or move it first")
        data = dict(loaded or {})
    for section in SECTIONS:
        current = data.get(section) or {}
        if not isinstance(current, dict):
            raise ImportRefused(
                f"the existing sevflow.yaml's {section} is not a mapping: fix or move it first"
            )
        imported = result.config[section]
        if section in LAID_OVER:
            imported = {
                name: {**current[name], **entry}
                if isinstance(current.get(name), dict) and isinstance(entry, dict)
                else entry
                for name, entry in imported.items()
            }
        data[section] = {**current, **imported}
        if not data[section]:
            del data[section]
    header = (
        f"# Imported from {result.vendor} by `sevflow import {result.vendor}`; "
        "check it with `sevflow config check`.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def diff(old: str | None, new: str, filename: str) -> list[str]:
    """The unified diff from `old` (None: no file yet) to `new`."""
    return list(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=filename if old is not None else "/dev/null",
            tofile=filename,
        )
    )


def check(text: str, now: datetime) -> list[ConfigProblem]:
    """What `sevflow config check` says of `text` (coverage gaps included): [] when it passes."""
    return check_config_text(text, now)

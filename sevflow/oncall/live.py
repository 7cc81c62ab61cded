"""The effective configuration, live: sevflow.yaml with the runtime on-call changes applied.

The worker's on-call activities (paging, handoffs), the API and the CLI read the configuration through
a `LiveConfig` instead of a fixed `SevflowConfig`, so a cover made now applies to the next page with no
restart. A read costs one small query (the `oncall` counter); the changes are read again, and the
configuration rebuilt, only when it moved. When the database cannot be read, the last configuration
read is used (the file's alone before the first), and the failure logged: a page still goes out.

Pinned policies: the file's text is kept in the database under its version id (`pin`, once per
process), and an incident records that version when it is declared. `at(version)` is the effective
configuration an escalation started on `version` plans on: that version's file, with the runtime
changes of now applied (a cover made now applies to the next page). A version the database does not
have (an old incident, a deleted row, a file that no longer parses) is the current configuration,
logged: never a stuck ladder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.oncall.changes import OnCallChange, config_version, effective_config

log = logging.getLogger("sevflow.oncall")


class OnCallSource(Protocol):
    """Where the runtime changes are kept (the store)."""

    def oncall_counter(self) -> int: ...

    def oncall_state(self) -> tuple[int, list[OnCallChange]]: ...


@runtime_checkable
class ConfigVersionSource(Protocol):
    """Where the file configurations are kept by version id (the store)."""

    def save_config_version(self, version: str, text: str) -> bool: ...

    def config_text(self, version: str) -> str | None: ...


@dataclass(frozen=True)
class Pin:
    """What an incident records as it starts paging: the version id of the file configuration its
    escalations plan on (`file`, the key of config_versions), and of the effective configuration then
    (`effective`: the file with the runtime changes, as `sevflow oncall --json` shows it)."""

    file: str
    effective: str


@dataclass(frozen=True)
class Effective:
    """One effective configuration, its version id, and the changes it applied."""

    config: SevflowConfig
    version: str
    changes: tuple[OnCallChange, ...] = ()
    counter: int = -1


class LiveConfig:
    """sevflow.yaml (`base`) plus the changes of `source` (None: the file alone, never re-read)."""

    def __init__(
        self, base: SevflowConfig, source: OnCallSource | None = None, text: str | None = None
    ) -> None:
        self.base = base
        self.source = source
        # sevflow.yaml's text, kept under the file's version by `pin` (None: a configuration built in
        # code, which a later process cannot plan on; its incidents fall back to the current one).
        self.text = text
        self.file_version = config_version(base)
        self._lock = threading.Lock()
        self._current = Effective(base, self.file_version)
        self._saved = False
        # Pinned file configurations read from the database (None: not found), and the effective one
        # last built on each.
        self._files: dict[str, SevflowConfig | None] = {}
        self._pinned: dict[str, Effective] = {}

    @classmethod
    def of(cls, config: SevflowConfig | LiveConfig) -> LiveConfig:
        return config if isinstance(config, LiveConfig) else cls(config)

    def current(self) -> Effective:
        """The effective configuration now: re-read when a change was made since the last read."""
        if self.source is None:
            return self._current
        try:
            counter = self.source.oncall_counter()
            if counter == self._current.counter:
                return self._current
            counter, changes = self.source.oncall_state()
        except Exception:  # the database is down: page with what was read last
            log.warning("on-call changes could not be read; using those read before", exc_info=True)
            return self._current
        return self._rebuild(counter, changes)

    def _rebuild(self, counter: int, changes: Sequence[OnCallChange]) -> Effective:
        with self._lock:
            if self._current.counter == counter:
                return self._current
            config = effective_config(self.base, changes)
            self._current = Effective(config, config_version(config), tuple(changes), counter)
            return self._current

    # --- pinned policies -------------------------------------------------------------------------

    def save(self) -> bool:
        """Keep the file's text under its version in the database, once per process; False when it
        could not (no text, no database, or the database failed: logged)."""
        if self._saved:
            return True
        if self.text is None or not isinstance(self.source, ConfigVersionSource):
            return False
        try:
            if config_version(parse_config(self.text)) != self.file_version:  # the file changed since
                log.warning(
                    "sevflow.yaml changed since it was loaded: configuration %s not kept", self.file_version
                )
                return False
            self.source.save_config_version(self.file_version, self.text)
        except Exception:
            log.warning(
                "configuration %s could not be kept in the database", self.file_version, exc_info=True
            )
            return False
        self._saved = True
        return True

    def pin(self) -> Pin:
        """The versions a new incident (or a re-page) records: this process's file, kept in the
        database first so that any later process plans on it, and the effective configuration now."""
        self.save()
        return Pin(file=self.file_version, effective=self.current().version)

    def at(self, version: str | None) -> Effective:
        """The effective configuration of an escalation started on the file configuration `version`:
        that file with the runtime changes of now. None, this process's own file, or a version the
        database does not have: the current configuration."""
        current = self.current()
        if version is None or version == self.file_version:
            return current
        base = self._file(version)
        if base is None:
            return current
        known = self._pinned.get(version)
        if known is not None and known.counter == current.counter:
            return known
        config = effective_config(base, current.changes)
        pinned = Effective(config, config_version(config), current.changes, current.counter)
        with self._lock:
            self._pinned[version] = pinned
        return pinned

    def _file(self, version: str) -> SevflowConfig | None:
        if version in self._files:
            return self._files[version]
        if not isinstance(self.source, ConfigVersionSource):
            log.warning(
                "configuration %s is not kept anywhere: the current one (%s) is used",
                version,
                self.file_version,
            )
            return None
        try:
            text = self.source.config_text(version)
        except Exception:  # the database is down: page on the current configuration, ask again later
            log.warning("configuration %s could not be read: the current one is used", version, exc_info=True)
            return None
        config: SevflowConfig | None = None
        if text is None:
            log.warning(
                "configuration %s is not in the database: the current one (%s) is used",
                version,
                self.file_version,
            )
        else:
            try:
                config = parse_config(text)
            except Exception:
                log.warning(
                    "configuration %s no longer parses: the current one is used", version, exc_info=True
                )
        with self._lock:
            self._files[version] = config
        return config

    @property
    def last(self) -> Effective:
        """The configuration read last, without reading: for code on an event loop (no I/O there)."""
        return self._current

    @property
    def config(self) -> SevflowConfig:
        return self.current().config

    @property
    def version(self) -> str:
        return self.current().version

"""The effective configuration, live: sevflow.yaml with the runtime on-call changes applied.

The worker's on-call activities (paging, handoffs), the API and the CLI read the configuration through
a `LiveConfig` instead of a fixed `SevflowConfig`, so a cover made now applies to the next page with no
restart. A read costs one small query (the `oncall` counter); the changes are read again, and the
configuration rebuilt, only when it moved. When the database cannot be read, the last configuration
read is used (the file's alone before the first), and the failure logged: a page still goes out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sevflow.config.schema import SevflowConfig
from sevflow.oncall.changes import OnCallChange, config_version, effective_config

log = logging.getLogger("sevflow.oncall")


class OnCallSource(Protocol):
    """Where the runtime changes are kept (the store)."""

    def oncall_counter(self) -> int: ...

    def oncall_state(self) -> tuple[int, list[OnCallChange]]: ...


@dataclass(frozen=True)
class Effective:
    """One effective configuration, its version id, and the changes it applied."""

    config: SevflowConfig
    version: str
    changes: tuple[OnCallChange, ...] = ()
    counter: int = -1


class LiveConfig:
    """sevflow.yaml (`base`) plus the changes of `source` (None: the file alone, never re-read)."""

    def __init__(self, base: SevflowConfig, source: OnCallSource | None = None) -> None:
        self.base = base
        self.source = source
        self._lock = threading.Lock()
        self._current = Effective(base, config_version(base))

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

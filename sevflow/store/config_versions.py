"""The file configurations workers and the API loaded, by version id (migration 0023), and when each
took effect (migration 0031).

Written once per distinct configuration (a second write of the same version changes nothing, from any
number of processes at once); read when an escalation started on another configuration plans a level
(sevflow.oncall.live.LiveConfig.at), and by the hours report, which counts each stretch of a month on
the configuration in force then (`config_epochs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sevflow.store.base import Repository, insert_ignoring_duplicates
from sevflow.store.schema import ConfigEpochRow, ConfigVersionRow


@dataclass(frozen=True)
class ConfigEpoch:
    """The file configuration `version` took effect at `since` (a process started on it)."""

    version: str
    since: datetime


class ConfigVersionRepository(Repository):
    def save_config_version(self, version: str, text: str) -> bool:
        """Keep `text` under `version` unless a row has it already; True when this call wrote it. In the
        same transaction, `version` takes effect now unless it is the one in force already."""
        with self._write() as session:
            now = self._clock()
            statement = (
                insert_ignoring_duplicates(session, ConfigVersionRow, ["version"])
                .values(version=version, text=text, created_at=now)
                .returning(ConfigVersionRow.version)
            )
            # The row it wrote, or none when another had it (rowcount is not told through the ORM on
            # PostgreSQL).
            wrote = session.execute(statement).scalar() is not None
            in_force = session.scalar(
                select(ConfigEpochRow.version)
                .order_by(ConfigEpochRow.started_at.desc(), ConfigEpochRow.id.desc())
                .limit(1)
            )
            if in_force != version:
                session.add(ConfigEpochRow(version=version, started_at=now))
            return wrote

    def config_text(self, version: str) -> str | None:
        """The configuration's text kept under `version`; None when none is."""
        with self._read() as session:
            return session.scalar(select(ConfigVersionRow.text).where(ConfigVersionRow.version == version))

    def config_epochs(self, start: datetime, end: datetime) -> list[ConfigEpoch]:
        """The configurations in force over [start, end), oldest first: the one in force at `start`
        (none when nothing was kept before it) and each that took effect after, before `end`."""
        order = (ConfigEpochRow.started_at, ConfigEpochRow.id)
        with self._read() as session:
            first = session.execute(
                select(ConfigEpochRow.version, ConfigEpochRow.started_at)
                .where(ConfigEpochRow.started_at <= start)
                .order_by(*(c.desc() for c in order))
                .limit(1)
            ).first()
            later = session.execute(
                select(ConfigEpochRow.version, ConfigEpochRow.started_at)
                .where(ConfigEpochRow.started_at > start, ConfigEpochRow.started_at < end)
                .order_by(*order)
            ).all()
        rows = ([first] if first is not None else []) + list(later)
        return [ConfigEpoch(version, since) for version, since in rows]

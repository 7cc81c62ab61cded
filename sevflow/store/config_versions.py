"""The file configurations workers and the API loaded, by version id (migration 0023).

Written once per distinct configuration (a second write of the same version changes nothing, from any
number of processes at once); read when an escalation started on another configuration plans a level
(sevflow.oncall.live.LiveConfig.at).
"""

from __future__ import annotations

from sqlalchemy import select

from sevflow.store.base import Repository, insert_ignoring_duplicates
from sevflow.store.schema import ConfigVersionRow


class ConfigVersionRepository(Repository):
    def save_config_version(self, version: str, text: str) -> bool:
        """Keep `text` under `version` unless a row has it already; True when this call wrote it."""
        with self._write() as session:
            statement = (
                insert_ignoring_duplicates(session, ConfigVersionRow, ["version"])
                .values(version=version, text=text, created_at=self._clock())
                .returning(ConfigVersionRow.version)
            )
            # The row it wrote, or none when another had it (rowcount is not told through the ORM on
            # PostgreSQL).
            return session.execute(statement).scalar() is not None

    def config_text(self, version: str) -> str | None:
        """The configuration's text kept under `version`; None when none is."""
        with self._read() as session:
            return session.scalar(select(ConfigVersionRow.text).where(ConfigVersionRow.version == version))

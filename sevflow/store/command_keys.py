"""Commands' idempotency keys: a command retried with its key reaches its workflow once and gets the
first answer back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, update

from sevflow.store.base import Repository, insert_ignoring_duplicates
from sevflow.store.schema import CommandKeyRow

# How long a command's idempotency key is remembered: a retry later than that is a new command.
COMMAND_KEY_RETENTION = timedelta(days=7)


class StoredCommandKey(BaseModel):
    """A command's idempotency key: the request it named, the workflow run its update went to, and
    when its answer came back (None: never, as far as sevflow knows)."""

    key: str
    target: str
    request_hash: str
    run_id: str | None = None
    created_at: datetime
    applied_at: datetime | None = None
    # Set when the incident refused the command: a retry with the key gets the same refusal.
    refusal: str | None = None
    # The answer given when it was applied (JSON): a retry with the key gets the same answer.
    answer: str | None = None


class CommandKeyRepository(Repository):
    """Idempotency keys of commands, forgotten after COMMAND_KEY_RETENTION."""

    def command_key(self, key: str) -> StoredCommandKey | None:
        """The key's record, unless it is older than COMMAND_KEY_RETENTION (then it is forgotten)."""
        with self._read() as session:
            row = session.get(CommandKeyRow, key)
            if row is None or row.created_at < self._clock() - COMMAND_KEY_RETENTION:
                return None
            return StoredCommandKey.model_validate(row, from_attributes=True)

    def claim_command_key(
        self, key: str, target: str, request_hash: str, run_id: str | None
    ) -> StoredCommandKey:
        """Record `key` for this request and run unless it is recorded already, and return the record
        (the first request with a key wins: the caller compares its hash). Keys older than
        COMMAND_KEY_RETENTION are forgotten first."""
        with self._write() as session:
            now = self._clock()
            session.execute(
                delete(CommandKeyRow).where(CommandKeyRow.created_at < now - COMMAND_KEY_RETENTION)
            )
            session.execute(
                insert_ignoring_duplicates(session, CommandKeyRow, ["key"]).values(
                    key=key, target=target, request_hash=request_hash, run_id=run_id, created_at=now
                )
            )
            row = session.get(CommandKeyRow, key)
            assert row is not None  # inserted or found in this transaction
            return StoredCommandKey.model_validate(row, from_attributes=True)

    def move_command_key(self, key: str, from_run: str | None, to_run: str) -> str | None:
        """Send the key's update to `to_run` from now on, unless another request moved it since it
        read `from_run`; the run the key goes to then."""
        with self._write() as session:
            same_run = (
                CommandKeyRow.run_id.is_(None) if from_run is None else CommandKeyRow.run_id == from_run
            )
            session.execute(
                update(CommandKeyRow).where(CommandKeyRow.key == key, same_run).values(run_id=to_run)
            )
            row = session.get(CommandKeyRow, key)
            return None if row is None else row.run_id

    def forget_command_key(self, key: str) -> None:
        """Forget a key whose command Temporal refused before taking it (nothing was changed), so that a
        retry with it is a first attempt again; an answered key stays."""
        with self._write() as session:
            session.execute(
                delete(CommandKeyRow).where(CommandKeyRow.key == key, CommandKeyRow.applied_at.is_(None))
            )

    def command_refused(self, key: str, refusal: str) -> None:
        """The key's command was refused (`refusal`, the incident's words): a retry with it is refused
        the same, from the store, and never sent again."""
        with self._write() as session:
            session.execute(
                update(CommandKeyRow)
                .where(CommandKeyRow.key == key, CommandKeyRow.applied_at.is_(None))
                .values(applied_at=self._clock(), refusal=refusal)
            )

    def command_applied(self, key: str, answer: str | None = None) -> None:
        """The key's command was answered (with `answer`, JSON): a retry with it gets that answer from
        the store and is not sent again. The first answer stays."""
        with self._write() as session:
            session.execute(
                update(CommandKeyRow)
                .where(CommandKeyRow.key == key, CommandKeyRow.applied_at.is_(None))
                .values(applied_at=self._clock(), answer=answer)
            )

"""Merges: an incident is merged into another only once the store has claimed the pair.

Two people merging duplicates into each other at the same moment each found the other incident open
and both merges applied: neither incident was left open and each pointed at the other (issue 14). The
claim decides between them: one transaction locks both incidents' rows, in number order, and refuses a
merge into an incident that is itself merged or being merged away. Every claim of an incident locks its
row, so two claims that share an incident run one after the other and the second sees the first; a
chain A -> B -> C is allowed, a cycle cannot be closed.
"""

from __future__ import annotations

from sqlalchemy import select

from sevflow.errors import InvalidCommand
from sevflow.incident.models import Status
from sevflow.incident.transitions import merge_target_refusal
from sevflow.store.base import Repository
from sevflow.store.schema import IncidentMergeRow, IncidentRow


class MergeRepository(Repository):
    """Which incident each merged incident went into (the incident workflow's `claim_merge`)."""

    def claim_merge(self, number: int, into: int) -> None:
        """Claim the merge of INC-`number` into INC-`into`, or raise InvalidCommand with the sentence a
        person reads. The same claim again (a retried activity) is granted again."""
        if number == into:
            raise InvalidCommand(f"INC-{number} cannot be merged into itself")
        with self._write() as session:
            # On PostgreSQL the row locks serialise the claims that share an incident, taken in number
            # order so that two of them never wait on each other; on SQLite the write lock that every
            # write transaction takes (BEGIN IMMEDIATE) serialises them all.
            statuses = dict(
                session.execute(
                    select(IncidentRow.number, IncidentRow.status)
                    .where(IncidentRow.number.in_((number, into)))
                    .order_by(IncidentRow.number)
                    .with_for_update(key_share=True)
                ).all()
            )
            missing = next((n for n in (number, into) if n not in statuses), None)
            if missing is not None:
                raise InvalidCommand(f"INC-{missing} does not exist")
            claims = dict(
                session.execute(
                    select(IncidentMergeRow.number, IncidentMergeRow.into_number).where(
                        IncidentMergeRow.number.in_((number, into))
                    )
                ).all()
            )
            if (mine := claims.get(number)) is not None:
                if mine == into:
                    return
                raise InvalidCommand(f"INC-{number} is already being merged into INC-{mine}")
            refused = merge_target_refusal(number, into, Status(statuses[into]), claims.get(into))
            if refused is not None:
                raise InvalidCommand(refused)
            session.add(IncidentMergeRow(number=number, into_number=into, claimed_at=self._clock()))

"""Confirmed contact methods and the codes that confirm them (the ContactStore port).

A code is checked against its digest only; a few wrong answers use it up, and it expires. Confirming
a method for an address replaces any earlier confirmation of that method for the person (the address
changed), and forgetting a person removes every row about them (personal data, on request). An
e-mailed link confirms the code it was sent with, named by the code's expiry: the link carries no
code, and a link from an earlier code confirms nothing."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sevflow.paging.contacts import Verification
from sevflow.paging.models import Method
from sevflow.store.base import Repository, rowcount
from sevflow.store.schema import ContactChallengeRow, ContactVerificationRow

# Wrong answers a code takes before it is used up (a 6-digit code: 5 guesses in a million).
MAX_WRONG_ANSWERS = 5

ConfirmOutcome = Literal["confirmed", "wrong", "expired", "used_up", "no_code", "address_changed"]
# A link's outcomes: also "superseded", a link from a code that a newer one replaced.
LinkOutcome = Literal["confirmed", "wrong", "expired", "used_up", "no_code", "address_changed", "superseded"]


@dataclass(frozen=True)
class PendingCode:
    """A code sent and not confirmed yet: to which address (its digest), when it went and lapses, and
    the wrong answers it took. The code itself is not kept, only its digest."""

    person: str
    method: Method
    digest: str
    sent_at: datetime
    expires_at: datetime
    wrong_answers: int

    @property
    def tries_left(self) -> int:
        return max(MAX_WRONG_ANSWERS - self.wrong_answers, 0)


def code_digest(person: str, method: Method, code: str) -> str:
    return hashlib.sha256(f"{person}\n{method}\n{code.strip()}".encode()).hexdigest()


class ContactRepository(Repository):
    def verifications(
        self, person: str | None = None, *, people: Collection[str] | None = None
    ) -> list[Verification]:
        """The confirmed methods, of `person`, of `people`, or of everyone. Every escalation level
        reads its people's (`PagingActivities.page_level`): rows as tuples, not ORM objects, which
        cost several times the query."""
        query = _VERIFICATIONS
        if person is not None:
            query = query.where(_VERIFIED.c.person == person)
        if people is not None:
            query = query.where(_VERIFIED.c.person.in_(sorted(people)))
        with self._read() as session:
            return [
                Verification(who, cast(Method, method), digest, verified_at, via)
                for who, method, digest, verified_at, via in session.execute(query)
            ]

    def pending_codes(self, person: str | None = None) -> list[PendingCode]:
        """The codes sent and not yet confirmed (expired or used up ones too), by person and method."""
        query = select(ContactChallengeRow).order_by(ContactChallengeRow.person, ContactChallengeRow.method)
        if person is not None:
            query = query.where(ContactChallengeRow.person == person)
        with self._read() as session:
            return [
                PendingCode(
                    row.person,
                    cast(Method, row.method),
                    row.digest,
                    row.sent_at,
                    row.expires_at,
                    row.wrong_answers,
                )
                for row in session.scalars(query).all()
            ]

    def start_challenge(
        self, person: str, method: Method, digest: str, code: str, expires_at: datetime
    ) -> None:
        """Keep the code just sent (its digest), replacing any earlier one for the person and method."""
        now = self._clock()
        with self._write() as session:
            session.execute(
                delete(ContactChallengeRow).where(
                    ContactChallengeRow.person == person, ContactChallengeRow.method == method
                )
            )
            session.add(
                ContactChallengeRow(
                    person=person,
                    method=method,
                    digest=digest,
                    code_digest=code_digest(person, method, code),
                    sent_at=now,
                    expires_at=expires_at,
                    wrong_answers=0,
                )
            )

    def whose_code(self, people: list[str], method: Method, digest: str, code: str) -> str | None:
        """Of `people` who share the address `digest` names (one phone for two), the one a code answers:
        whose live code it is; else whose live code went out last (a wrong answer counts against it);
        else whose code, expired or used up, went out last (the answer says so); None when none of them
        was sent one. Nothing changes here."""
        now = self._clock()
        query = select(ContactChallengeRow).where(
            ContactChallengeRow.person.in_(people),
            ContactChallengeRow.method == method,
            ContactChallengeRow.digest == digest,
        )
        with self._read() as session:
            rows = list(session.scalars(query).all())
        live = [r for r in rows if r.expires_at > now and r.wrong_answers < MAX_WRONG_ANSWERS]
        for row in live:
            if hmac.compare_digest(row.code_digest, code_digest(row.person, method, code)):
                return row.person
        newest = max(live or rows, key=lambda row: row.sent_at, default=None)
        return None if newest is None else newest.person

    def confirm_challenge(
        self, person: str, method: Method, digest: str, code: str, via: str
    ) -> ConfirmOutcome:
        """Check `code` for the person's method at the address `digest` names; on a match the method
        is confirmed (once, however often the right code arrives) and the code is used up."""
        now = self._clock()
        with self._write() as session:
            challenge = session.get(ContactChallengeRow, (person, method))
            if challenge is None:
                return "no_code"
            if challenge.digest != digest:
                return "address_changed"
            if challenge.expires_at <= now:
                return "expired"
            if challenge.wrong_answers >= MAX_WRONG_ANSWERS:
                return "used_up"
            if not hmac.compare_digest(challenge.code_digest, code_digest(person, method, code)):
                challenge.wrong_answers += 1
                return "wrong"
            _confirm(session, challenge, now, via)
            return "confirmed"

    def confirm_link(
        self, person: str, method: Method, digest: str, expires_at: datetime, via: str
    ) -> LinkOutcome:
        """Confirm the person's method by the link sent with its code, which names that code by its
        expiry (to the second): a link of an earlier code is "superseded", one whose code was used is
        "no_code". Once confirmed the code is gone, so a link confirms at most once."""
        now = self._clock()
        with self._write() as session:
            challenge = session.get(ContactChallengeRow, (person, method))
            if challenge is None:
                return "no_code"
            if challenge.digest != digest:
                return "address_changed"
            if int(challenge.expires_at.timestamp()) != int(expires_at.timestamp()):
                return "superseded"
            if challenge.expires_at <= now:
                return "expired"
            if challenge.wrong_answers >= MAX_WRONG_ANSWERS:
                return "used_up"
            _confirm(session, challenge, now, via)
            return "confirmed"

    def forget_contacts(self, person: str) -> int:
        """Remove every confirmation and pending code of `person`; returns how many rows went."""
        with self._write() as session:
            gone = 0
            for table in (ContactVerificationRow, ContactChallengeRow):
                result = session.execute(delete(table).where(table.person == person))
                gone += rowcount(result)
            return gone


def _confirm(session: Session, challenge: ContactChallengeRow, now: datetime, via: str) -> None:
    """The challenge's method is confirmed for its address, replacing an earlier confirmation of the
    method (another address), and the code is used up."""
    session.delete(challenge)
    session.execute(
        delete(ContactVerificationRow).where(
            ContactVerificationRow.person == challenge.person,
            ContactVerificationRow.method == challenge.method,
        )
    )
    session.add(
        ContactVerificationRow(
            person=challenge.person,
            method=challenge.method,
            digest=challenge.digest,
            verified_at=now,
            via=via,
        )
    )


_VERIFIED = ContactVerificationRow.metadata.tables[ContactVerificationRow.__tablename__]
_VERIFICATIONS = select(
    _VERIFIED.c.person, _VERIFIED.c.method, _VERIFIED.c.digest, _VERIFIED.c.verified_at, _VERIFIED.c.via
).order_by(_VERIFIED.c.person, _VERIFIED.c.method)

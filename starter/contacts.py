"""ContactService: confirming a person's contact methods, their test page, and their contact data, for
the CLI (`sevflow contact ...`, `sevflow page test`) and the HTTP API (/v1/people/{name}/contacts).

A text, a call, an e-mail or a push pages a person only once they confirmed it (sevflow.paging.contacts):
`start` sends a 6-digit code by that method and keeps its digest for 10 minutes; `confirm` checks the
code (5 wrong answers use it up) and answers in a sentence per outcome. An e-mail (and a push) also
carries a signed link that confirms without typing (sevflow.paging.contact_links). A person acts for
themselves, an admin (`permissions.admins`) for anyone. Addresses appear masked in every sentence and
log line; only `export`, which the person asks for, shows them whole.

Sends go straight through the pagers' ports (activities/pagers.py) from the process that asks: a code
or a test page is no incident, so no workflow, escalation or page record is involved.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from activities.pagers import Pagers
from sevflow.config.schema import SevflowConfig
from sevflow.config.schema.oncall import PersonConfig
from sevflow.durations import format_duration
from sevflow.errors import SevflowError
from sevflow.paging.contact_links import ConfirmLink, confirm_token, confirm_url, read_confirm_token
from sevflow.paging.contacts import ContactBook, address_digest, address_of, mask
from sevflow.paging.links import InvalidLink
from sevflow.paging.models import METHODS, VERIFIED_METHODS, Method
from sevflow.settings import Settings, page_link_secret
from sevflow.store.contacts import MAX_WRONG_ANSWERS, LinkOutcome
from sevflow.store.repository import Store

log = logging.getLogger("sevflow.contacts")

CODE_TTL = timedelta(minutes=10)
# A second code within this is refused: a double click must not send two codes (the first of which
# the second would make worthless), nor a loop flood a phone.
RESEND_AFTER = timedelta(seconds=60)
_CODE = re.compile(r"^\d{6}$")
# Where each method's address lives in a person's entry of sevflow.yaml.
_FIELD: dict[Method, str] = {
    "sms": "phone",
    "voice": "phone",
    "email": "email",
    "push": "push",
    "slack_dm": "slack_id",
}
_NOT_CONFIGURED: dict[Method, str] = {
    "sms": "texts are not set up: set SEVFLOW_TWILIO_ACCOUNT_SID, SEVFLOW_TWILIO_AUTH_TOKEN and "
    "SEVFLOW_TWILIO_FROM",
    "voice": "calls are not set up: set SEVFLOW_TWILIO_ACCOUNT_SID, SEVFLOW_TWILIO_AUTH_TOKEN and "
    "SEVFLOW_TWILIO_FROM (a phone number: a Messaging Service cannot call)",
    "email": "e-mail is not set up: set SEVFLOW_SMTP_URL and SEVFLOW_SMTP_FROM",
    "push": "push pages are not set up in this sevflow",
}

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- refusals: each a sentence, and an HTTP status in starter/api.py ----------------------------------


class PersonNotFound(SevflowError):
    """A name that is not one of sevflow.yaml's `people` (404)."""


class NotAllowed(SevflowError):
    """Someone acting for another person without being an admin (403)."""


class ContactRefused(SevflowError):
    """A method that cannot be confirmed for this person here (409): no address, no confirmation
    needed, or no way to send it."""


class LinkRefused(ContactRefused):
    """A confirmation link that is forged, altered or expired (400)."""


class CodeTooSoon(SevflowError):
    """A new code asked for within RESEND_AFTER of the last one (429, after `retry_after` seconds)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CodeNotSent(SevflowError):
    """The provider did not take the code (502); the earlier code, if any, still holds."""


# --- what the service answers --------------------------------------------------------------------------

ConfirmOutcome = Literal[
    "confirmed",
    "already_confirmed",
    "wrong",
    "expired",
    "used_up",
    "no_code",
    "address_changed",
    "superseded",
]


class CodeSent(BaseModel):
    person: str
    method: Method
    address: str = Field(description="The address, masked")
    expires_at: datetime
    message: str


class Confirmation(BaseModel):
    person: str
    method: Method
    outcome: ConfirmOutcome
    message: str
    tries_left: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.outcome in ("confirmed", "already_confirmed")


class LinkTarget(BaseModel):
    person: str
    method: Method
    address: str = Field(description="The address, masked")
    confirmed: bool


ContactStatus = Literal["confirmed", "not confirmed", "code sent", "no confirmation needed"]


class ContactMethod(BaseModel):
    """One contact method of a person, as `sevflow contact list` shows it (address masked)."""

    person: str
    method: Method
    address: str | None
    status: ContactStatus
    # When it was confirmed, or when the pending code went out.
    since: datetime | None = None
    # Set while a code waits for its answer.
    code_expires_at: datetime | None = None
    # Which of the person's notify rules use it: high, low, both or none.
    urgency: list[Literal["high", "low"]] = Field(default_factory=list)


class ExportedConfirmation(BaseModel):
    method: Method
    # The address it confirmed when that is still the one in sevflow.yaml; null for an earlier one.
    address: str | None
    current: bool
    confirmed_at: datetime
    via: str | None


class ExportedCode(BaseModel):
    method: Method
    sent_at: datetime
    expires_at: datetime
    wrong_answers: int
    current: bool


class ExportedPage(BaseModel):
    incident: int
    paged_at: datetime
    due_at: datetime
    result: str
    detail: str | None
    level: int
    drill: bool


class ContactExport(BaseModel):
    """Everything sevflow holds about a person's contact details, unmasked: their addresses and notify
    rules (sevflow.yaml), their confirmations and pending codes (never a code itself: only its digest
    is kept), and the pages sent to them, by method."""

    person: str
    exported_at: datetime
    addresses: dict[str, str | None]
    timezone: str
    notify: dict[str, list[dict[str, str]]]
    confirmations: list[ExportedConfirmation]
    pending_codes: list[ExportedCode]
    pages: dict[str, list[ExportedPage]]


class Forgotten(BaseModel):
    person: str
    removed: int
    message: str


TestOutcome = Literal["sent", "failed", "not confirmed", "not configured"]


class TestPageResult(BaseModel):
    method: Method
    address: str
    outcome: TestOutcome
    detail: str


# --- the service -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    name: str
    config: PersonConfig


class ContactService:
    def __init__(
        self,
        config: SevflowConfig,
        store: Store,
        pagers: Pagers | Callable[[], Pagers],
        *,
        link_secret: str,
        public_url: str,
        clock: Clock = _utcnow,
    ) -> None:
        self.config = config
        self.store = store
        # Built on the first send: reading, confirming and forgetting need no provider (and a provider
        # setting that does not parse then refuses only the sends, in its own words).
        self._pagers = pagers
        self._secret = link_secret
        self._public_url = public_url
        self._clock = clock

    @property
    def pagers(self) -> Pagers:
        if not isinstance(self._pagers, Pagers):
            self._pagers = self._pagers()
        return self._pagers

    # -- who -------------------------------------------------------------------------------------------

    def person(self, name: str) -> str:
        """`name` as sevflow.yaml's `people` names them (a Slack id or e-mail of theirs is them too)."""
        cleaned = name.strip()
        if not cleaned:
            raise ValueError("name a person of sevflow.yaml's people")
        found = self.config.canonical(cleaned)
        if found in self.config.people:
            return found
        names = sorted(self.config.people)
        if not names:
            raise PersonNotFound(f"nobody called {cleaned!r}: sevflow.yaml names no people")
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise PersonNotFound(f"nobody called {cleaned!r} in sevflow.yaml's people ({shown})")

    def authorize(self, by: str, person: str, doing: str) -> None:
        """A person acts for themselves, an admin (`permissions.admins`) for anyone; else the refusal
        says who may."""
        me = self.config.canonical(by) if by.strip() else ""
        if not me:
            raise NotAllowed("say who you are: --by NAME, $SEVFLOW_USER, or `by` in the request")
        if me == person or me in self._admins():
            return
        admins = self._admins()
        who = f"admins are {', '.join(admins)}" if admins else "no admins are configured (permissions.admins)"
        raise NotAllowed(f"only {person} or an admin can {doing}; you are {me}, and {who}")

    def is_admin(self, by: str) -> bool:
        return bool(by.strip()) and self.config.canonical(by) in self._admins()

    def _admins(self) -> list[str]:
        return [self.config.canonical(admin) for admin in self.config.permissions.admins]

    def _resolve(self, name: str) -> _Person:
        person = self.person(name)
        return _Person(person, self.config.people[person])

    # -- confirming ------------------------------------------------------------------------------------

    def start(self, name: str, method_text: str, *, by: str) -> CodeSent:
        """Send a new code to the person's method and keep its digest for CODE_TTL."""
        who = self._resolve(name)
        method = self._confirmable(who, method_text)
        self.authorize(by, who.name, f"confirm {who.name}'s contact methods")
        address = self._address(who, method)
        digest = address_digest(method, address)
        now = self._clock()
        self._not_too_soon(who.name, method, now)
        if not self.pagers.configured(method):
            raise ContactRefused(f"cannot send a code to {who.name}'s {method}: {_NOT_CONFIGURED[method]}")
        code = f"{secrets.randbelow(10**6):06d}"
        # Whole seconds: the e-mailed link names the code by its expiry, as the store compares it.
        expires_at = (now + CODE_TTL).replace(microsecond=0)
        link = confirm_url(
            self._public_url, confirm_token(self._secret, ConfirmLink(who.name, method, digest, expires_at))
        )
        masked = mask(method, address)
        try:
            self._send_code(who.name, method, address, code, link)
        except Exception as exc:
            reason = _scrub(str(exc) or type(exc).__name__, address)
            log.warning("contact code to %s's %s (%s) not sent: %s", who.name, method, masked, reason)
            raise CodeNotSent(
                f"the code to {who.name}'s {method} ({masked}) could not be sent: {reason}"
            ) from None
        # Kept once it went out: a code that never arrived must not block the next attempt.
        self.store.start_challenge(who.name, method, digest, code, expires_at)
        log.info("contact code sent to %s's %s (%s), valid until %s", who.name, method, masked, expires_at)
        minutes = format_duration(CODE_TTL)
        return CodeSent(
            person=who.name,
            method=method,
            address=masked,
            expires_at=expires_at,
            message=f"sent a code to {who.name}'s {method} ({masked}), valid for {minutes}: "
            f"confirm it with `sevflow contact confirm {who.name} {method} CODE`"
            + (" or the link in the message" if method in ("email", "push") else ""),
        )

    def confirm(self, name: str, method_text: str, code: str, via: str, *, by: str) -> Confirmation:
        """Check `code` for the person's method; the answer says what came of it in a sentence."""
        who = self._resolve(name)
        method = self._confirmable(who, method_text)
        self.authorize(by, who.name, f"confirm {who.name}'s contact methods")
        cleaned = code.strip().replace(" ", "")
        if not _CODE.match(cleaned):
            # Not an answer at all (a typo of length): no try is spent on it.
            raise ValueError(f"a code is 6 digits, like 123456, not {code.strip()[:12]!r}")
        address = self._address(who, method)
        digest = address_digest(method, address)
        outcome = self.store.confirm_challenge(who.name, method, digest, cleaned, via)
        return self._answer(who, method, address, outcome, via)

    def confirm_by_link(self, token: str, via: str = "link") -> Confirmation:
        """Confirm by the signed link of an e-mail or a push (no identity needed: the link is sent to
        the address it confirms). A link confirms once; opened again, it says so."""
        link = self._read_link(token)
        found = self.config.people.get(link.person)
        if found is None:
            raise PersonNotFound(f"{link.person} is no longer in sevflow.yaml's people")
        who = _Person(link.person, found)
        address = address_of(found, link.method)
        if address is None or address_digest(link.method, address) != link.digest:
            return self._answer(who, link.method, address, "address_changed", via)
        outcome = self.store.confirm_link(who.name, link.method, link.digest, link.expires_at, via)
        return self._answer(who, link.method, address, outcome, via)

    def link_target(self, token: str) -> LinkTarget:
        """Whom and what a confirmation link is for (address masked), and whether that is confirmed
        already: what the page that asks to confirm shows before anything changes."""
        link = self._read_link(token)
        found = self.config.people.get(link.person)
        if found is None:
            raise PersonNotFound(f"{link.person} is no longer in sevflow.yaml's people")
        who = _Person(link.person, found)
        address = address_of(found, link.method)
        return LinkTarget(
            person=link.person,
            method=link.method,
            address=mask(link.method, address) if address else "no address",
            confirmed=address is not None
            and address_digest(link.method, address) == link.digest
            and self._verified(who, link.method),
        )

    def _read_link(self, token: str) -> ConfirmLink:
        try:
            return read_confirm_token(self._secret, token, self._clock())
        except InvalidLink as exc:
            raise LinkRefused(str(exc)) from None

    def _answer(
        self, who: _Person, method: Method, address: str | None, outcome: LinkOutcome, via: str
    ) -> Confirmation:
        name = who.name
        masked = mask(method, address) if address else "no address"
        again = f"run `sevflow contact verify {name} {method}` for a new code"
        tries_left: int | None = None
        result: ConfirmOutcome = outcome
        if outcome == "confirmed":
            log.info("%s's %s (%s) confirmed by %s", name, method, masked, via)
            message = f"{name}'s {method} ({masked}) is confirmed: it pages {name} from now on"
        elif outcome == "no_code" and address is not None and self._verified(who, method):
            result = "already_confirmed"
            message = f"{name}'s {method} ({masked}) is already confirmed"
        elif outcome == "no_code":
            message = f"no code is waiting for {name}'s {method}: {again}"
        elif outcome == "wrong":
            tries_left = self._tries_left(name, method)
            left = (
                f"{tries_left} {'try' if tries_left == 1 else 'tries'} left"
                if tries_left
                else "no tries left"
            )
            message = f"wrong code for {name}'s {method}: {left}"
            if not tries_left:
                message += f": {again}"
        elif outcome == "expired":
            message = f"the code for {name}'s {method} has expired: {again}"
        elif outcome == "used_up":
            message = (
                f"the code for {name}'s {method} took {MAX_WRONG_ANSWERS} wrong answers and is used up: "
                f"{again}"
            )
        elif outcome == "superseded":
            message = (
                f"a newer code was sent to {name}'s {method} after this link: use the newest message, "
                f"or {again}"
            )
        else:  # address_changed
            field = _FIELD.get(method, method)
            message = (
                f"{name}'s {field} in sevflow.yaml changed since the code was sent: {again} "
                "to confirm the new address"
            )
        if outcome != "confirmed":
            log.info("%s's %s (%s) not confirmed by %s: %s", name, method, masked, via, result)
        return Confirmation(
            person=name, method=method, outcome=result, message=message, tries_left=tries_left
        )

    def _tries_left(self, person: str, method: Method) -> int:
        pending = [code for code in self.store.pending_codes(person) if code.method == method]
        return pending[0].tries_left if pending else 0

    def _verified(self, who: _Person, method: Method) -> bool:
        return ContactBook.of(self.store.verifications(who.name)).verified(who.name, who.config, method)

    def _not_too_soon(self, person: str, method: Method, now: datetime) -> None:
        for pending in self.store.pending_codes(person):
            if pending.method == method and now - pending.sent_at < RESEND_AFTER:
                wait = RESEND_AFTER - (now - pending.sent_at)
                seconds = max(int(wait.total_seconds()) + (wait.microseconds > 0), 1)
                # A code its wrong answers used up cannot be used: only the wait is worth saying.
                use = "use it, or ask" if pending.tries_left else "it is used up: ask"
                raise CodeTooSoon(
                    f"a code went to {person}'s {method} less than {format_duration(RESEND_AFTER)} ago: "
                    f"{use} again in {seconds}s",
                    retry_after=seconds,
                )

    def _confirmable(self, who: _Person, text: str) -> Method:
        method = parse_method(text)
        if method not in VERIFIED_METHODS:
            raise ContactRefused(
                f"{method} needs no confirmation: it pages {who.name} as soon as a notify rule names it"
            )
        return method

    def _address(self, who: _Person, method: Method) -> str:
        address = address_of(who.config, method)
        if address is None:
            field = _FIELD[method]
            example = (
                "in E.164 form, like +4930123456"
                if field == "phone"
                else "an Apprise URL, like ntfys://ntfy.sh/topic"
            )
            raise ContactRefused(
                f"{who.name} has no {field} in sevflow.yaml: add people.{who.name}.{field} ({example}) first"
            )
        return address

    def _send_code(self, person: str, method: Method, address: str, code: str, link: str) -> None:
        key = f"contact-code-{uuid.uuid4()}"
        confirm = f"sevflow contact confirm {person} {method} {code}"
        if method == "sms" and self.pagers.sms is not None:
            body = f"sevflow code {code} for {person}'s sms. Reply with it, or run `{confirm}`"
            self.pagers.sms.send_sms(address, body, key)
        elif method == "voice" and self.pagers.voice is not None:
            spoken = " ".join(code)
            speech = (
                f"This is sevflow. The code for {person}'s voice pages is {spoken}. Again: {spoken}. "
                f"Confirm it with sevflow contact confirm {person} voice, and the code."
            )
            self.pagers.voice.call(address, speech, key, None)
        elif method == "email" and self.pagers.email is not None:
            minutes = format_duration(CODE_TTL)
            text = (
                f"sevflow code {code} for {person}'s email.\n\n"
                f"Confirm this address within {minutes}: open {link}\n"
                f"or run `{confirm}`.\n\n"
                "If you did not ask for this, ignore it: nothing pages this address until it is confirmed.\n"
            )
            html = (
                f"<p>sevflow code <strong>{code}</strong> for {_escape(person)}'s email.</p>"
                f'<p><a href="{_escape(link)}">Confirm this address</a> within {minutes}, '
                f"or run <code>{_escape(confirm)}</code>.</p>"
                "<p>If you did not ask for this, ignore it: nothing pages this address until it is "
                "confirmed.</p>"
            )
            self.pagers.email.send_email(
                address, f"sevflow code {code} for {person}'s email", text, html, key
            )
        elif method == "push" and self.pagers.push is not None:
            body = f"Code {code} for {person}'s push. Tap to confirm, or run `{confirm}`"
            self.pagers.push.push(address, f"sevflow code {code}", body, link, key)

    # -- reading, exporting, forgetting ----------------------------------------------------------------

    def methods(self, name: str | None, *, by: str) -> list[ContactMethod]:
        """Every contact method of `name` (None: of everyone for an admin, else of whoever asks), its
        address masked, and whether it is confirmed."""
        if name is None:
            me = self.config.canonical(by) if by.strip() else ""
            if self.is_admin(by):
                people = list(self.config.people)
            elif me in self.config.people:
                people = [me]
            else:
                raise NotAllowed(
                    f"only an admin can list everyone's contact methods; you are {me or 'nobody'}: "
                    "name a person, or say who you are with --by"
                )
        else:
            people = [self.person(name)]
        for person in people:
            self.authorize(by, person, f"see {person}'s contact methods")
        verifications = self.store.verifications() if name is None else self.store.verifications(people[0])
        book = ContactBook.of(verifications)
        when = {(v.person, v.method, v.digest): v.verified_at for v in verifications}
        pending = {(p.person, p.method, p.digest): p for p in self.store.pending_codes()}
        now = self._clock()
        rows: list[ContactMethod] = []
        for person in people:
            found = self.config.people[person]
            high = {rule.via for rule in found.notify.high}
            low = {rule.via for rule in (found.notify.low or found.notify.high)}
            for method in METHODS:
                address = address_of(found, method)
                if address is None and method not in found.notify.methods:
                    continue
                urgency: list[Literal["high", "low"]] = []
                if method in high:
                    urgency.append("high")
                if method in low:
                    urgency.append("low")
                row = ContactMethod(
                    person=person,
                    method=method,
                    address=mask(method, address) if address else None,
                    status="no confirmation needed",
                    urgency=urgency,
                )
                if method in VERIFIED_METHODS and address is not None:
                    digest = address_digest(method, address)
                    code = pending.get((person, method, digest))
                    if book.verified(person, found, method):
                        row.status, row.since = "confirmed", when[(person, method, digest)]
                    elif code is not None and code.expires_at > now and code.tries_left:
                        row.status, row.since, row.code_expires_at = (
                            "code sent",
                            code.sent_at,
                            code.expires_at,
                        )
                    else:
                        row.status = "not confirmed"
                rows.append(row)
        return rows

    def export(self, name: str, *, by: str) -> ContactExport:
        who = self._resolve(name)
        self.authorize(by, who.name, f"export {who.name}'s contact data")
        found = who.config
        current = {
            method: address_digest(method, address)
            for method in VERIFIED_METHODS
            if (address := address_of(found, method)) is not None
        }
        pages: dict[str, list[ExportedPage]] = {}
        for page in self.store.pages(person=who.name):
            pages.setdefault(page.via, []).append(
                ExportedPage(
                    incident=page.incident_number,
                    paged_at=page.paged_at,
                    due_at=page.due_at,
                    result=page.result,
                    detail=page.detail,
                    level=page.level,
                    drill=page.drill,
                )
            )
        log.info("contact data of %s exported for %s", who.name, self.config.canonical(by))
        return ContactExport(
            person=who.name,
            exported_at=self._clock(),
            addresses={
                "phone": found.phone,
                "email": found.email,
                "push": found.push,
                "slack_id": found.slack_id,
            },
            timezone=found.timezone,
            notify={
                urgency: [{"via": rule.via, "after": format_duration(rule.after)} for rule in rules]
                for urgency, rules in (("high", found.notify.high), ("low", found.notify.low or ()))
                if rules
            },
            confirmations=[
                ExportedConfirmation(
                    method=v.method,
                    address=address_of(found, v.method) if current.get(v.method) == v.digest else None,
                    current=current.get(v.method) == v.digest,
                    confirmed_at=v.verified_at,
                    via=v.via,
                )
                for v in self.store.verifications(who.name)
            ],
            pending_codes=[
                ExportedCode(
                    method=code.method,
                    sent_at=code.sent_at,
                    expires_at=code.expires_at,
                    wrong_answers=code.wrong_answers,
                    current=current.get(code.method) == code.digest,
                )
                for code in self.store.pending_codes(who.name)
            ],
            pages=pages,
        )

    def forget(self, name: str, *, by: str) -> Forgotten:
        """Delete the person's confirmations and pending codes. Their addresses stay in sevflow.yaml
        (only an edit removes them), and their pages stay on the incidents' record."""
        who = self._resolve(name)
        self.authorize(by, who.name, f"forget {who.name}'s contact data")
        removed = self.store.forget_contacts(who.name)
        log.info(
            "contact confirmations of %s forgotten (%d rows) for %s",
            who.name,
            removed,
            self.config.canonical(by),
        )
        rows = f"{removed} confirmation{'s' if removed != 1 else ''} and codes" if removed else "nothing"
        return Forgotten(
            person=who.name,
            removed=removed,
            message=(
                f"forgot {rows} of {who.name}: texts, calls, e-mail and push page {who.name} again only once "
                f"confirmed. sevflow.yaml still holds {who.name}'s addresses (people.{who.name}): only an "
                "edit there removes them; pages already sent stay on their incidents' record"
            ),
        )

    # -- the test page ---------------------------------------------------------------------------------

    def test_page(self, name: str, *, by: str) -> list[TestPageResult]:
        """A test page (no incident, nothing to acknowledge) on every method of the person that can be
        confirmed, sent on those that are; one result per method."""
        who = self._resolve(name)
        self.authorize(by, who.name, f"send {who.name} a test page")
        book = ContactBook.of(self.store.verifications(who.name))
        results: list[TestPageResult] = []
        for method in VERIFIED_METHODS:
            address = address_of(who.config, method)
            if address is None:
                continue
            masked = mask(method, address)
            if not book.verified(who.name, who.config, method):
                detail = f"run `sevflow contact verify {who.name} {method}` first"
                results.append(
                    TestPageResult(method=method, address=masked, outcome="not confirmed", detail=detail)
                )
                continue
            if not self.pagers.configured(method):
                results.append(
                    TestPageResult(
                        method=method,
                        address=masked,
                        outcome="not configured",
                        detail=_NOT_CONFIGURED[method],
                    )
                )
                continue
            try:
                self._send_test(who.name, method, address)
            except Exception as exc:
                reason = _scrub(str(exc) or type(exc).__name__, address)
                log.warning("test page to %s's %s (%s) failed: %s", who.name, method, masked, reason)
                results.append(TestPageResult(method=method, address=masked, outcome="failed", detail=reason))
                continue
            log.info("test page sent to %s's %s (%s)", who.name, method, masked)
            results.append(
                TestPageResult(method=method, address=masked, outcome="sent", detail="check that it arrived")
            )
        return results

    def _send_test(self, person: str, method: Method, address: str) -> None:
        key = f"test-page-{uuid.uuid4()}"
        text = (
            f"sevflow TEST page for {person}: no incident, nothing to acknowledge. "
            f"Your {method} pages reach you."
        )
        if method == "sms" and self.pagers.sms is not None:
            self.pagers.sms.send_sms(address, text, key)
        elif method == "voice" and self.pagers.voice is not None:
            speech = (
                f"This is a sevflow test page for {person}. There is no incident and nothing to do. "
                "Your voice pages reach you. Goodbye."
            )
            self.pagers.voice.call(address, speech, key, None)
        elif method == "email" and self.pagers.email is not None:
            html = f"<p><strong>TEST</strong>: {_escape(text)}</p>"
            self.pagers.email.send_email(address, f"[sevflow] TEST page for {person}", text + "\n", html, key)
        elif method == "push" and self.pagers.push is not None:
            self.pagers.push.push(address, "sevflow TEST page", text, None, key)


def parse_method(text: str) -> Method:
    cleaned = text.strip().lower().replace("-", "_")
    for method in METHODS:
        if cleaned == method:
            return method
    raise ValueError(f"unknown contact method {text.strip()!r}: sms, voice, email or push")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _scrub(text: str, address: str) -> str:
    """A provider's error without the address in it (Twilio names the number it refused), on one line."""
    line = " ".join(text.split())[:300]
    for form in {address, address.lstrip("+")}:
        if form:
            line = line.replace(form, "[address]")
    return line


def contact_service(settings: Settings, config: SevflowConfig, store: Store) -> ContactService:
    """The service as the CLI and the API run it: this process's pagers, link secret and public URL."""
    return ContactService(
        config,
        store,
        lambda: pagers_for(settings),
        link_secret=page_link_secret(settings),
        public_url=settings.resolved_public_url,
    )


def pagers_for(settings: Settings) -> Pagers:
    """The ways out this process sends codes and test pages by, built from its settings as the
    worker builds its own (a half-configured provider is a ConfigError, said in one line)."""
    from worker.main import pagers_from

    return pagers_from(settings)

"""SilenceService: silences and maintenance windows made at runtime, for the CLI (`sevflow silence`,
`sevflow maintenance`), the HTTP API (/v1/silences) and the dashboard.

A silence is saved in the store and its timer (workflows/silence.py) started; if the timer cannot be
started the silence is taken back, so a silence is either there with its timer or not there at all.
An early expiry or an edit is a compare-and-set in the store (of two at once, one wins and the other
is told) and then wakes the timer, which announces the end once. The owner is the canonical person
(`U01ALICE`, `alice@example.com` and `alice` are one), as everywhere in sevflow.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from sevflow.config.schema import SevflowConfig
from sevflow.errors import ServiceUnavailable
from sevflow.silences.matchers import parse_all
from sevflow.silences.models import (
    Silence,
    SilenceKind,
    SilenceNotFound,
    SilenceRefused,
    SilenceRequest,
    aware,
    edited,
    new_silence,
)
from sevflow.silences.timer import SilenceRun, silence_workflow_id
from sevflow.store.repository import Store
from workflows.silence import SilenceWorkflow

log = logging.getLogger("sevflow.silences")

Clock = Callable[[], datetime]
# How long ended silences stay in `list --recent` and on the dashboard by default.
RECENT = timedelta(days=7)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_silence_id() -> str:
    return f"s-{secrets.token_hex(5)}"


class SilenceService:
    def __init__(
        self,
        store: Store,
        config: SevflowConfig,
        client: Callable[[], Awaitable[Client]],
        task_queue: str,
        clock: Clock = _utcnow,
        changed: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._client = client
        self.task_queue = task_queue
        self.clock = clock
        # Told after every change (the API's ingest forgets its cached silences).
        self._changed = changed or (lambda: None)

    def owner(self, by: str) -> str:
        who = self.config.canonical(by)
        if not who:
            raise SilenceRefused("a silence needs an owner (--by)")
        if self.config.people and who not in self.config.people:
            raise SilenceRefused(f"{by!r} is not one of sevflow.yaml's people: a silence's owner is a person")
        return who

    def teams_for(self, matchers: Sequence[str], services: Sequence[str], teams: Sequence[str]) -> list[str]:
        """Whose channels hear of it: the teams given, else the teams of its services (those named, and
        those a `service="x"` matcher names)."""
        for team in teams:
            if team not in self.config.teams:
                raise SilenceRefused(
                    f"no team {team!r} in sevflow.yaml (teams: {', '.join(self.config.teams)})"
                )
        if teams:
            return list(dict.fromkeys(teams))
        named = list(services)
        with contextlib.suppress(ValueError):  # new_silence says what is wrong with the matchers
            named += [m.value for m in parse_all(matchers) if m.name == "service" and m.op == "="]
        found = [self.config.team_for(s) for s in named]
        return list(dict.fromkeys(t for t in found if t))

    async def add(
        self,
        matchers: Sequence[str],
        *,
        reason: str,
        by: str,
        length: timedelta | None = None,
        ends_at: datetime | None = None,
        starts_at: datetime | None = None,
        services: Sequence[str] = (),
        teams: Sequence[str] = (),
        kind: SilenceKind = SilenceKind.SILENCE,
        allow_all: bool = False,
        silence_id: str | None = None,
    ) -> Silence:
        """Make it (`silence_id`: its id, for a caller that derives one from a form's key; else a new
        one) and start its timer; if the timer cannot be started the silence is taken back."""
        for service in services:
            if self.config.services and service not in self.config.services:
                known = ", ".join(sorted(self.config.services))
                raise SilenceRefused(f"no service {service!r} in sevflow.yaml (services: {known})")
        request = SilenceRequest(
            matchers=list(matchers),
            reason=reason,
            owner=self.owner(by),
            ends_at=ends_at,
            length=length,
            starts_at=starts_at,
            services=list(services),
            teams=self.teams_for(matchers, services, teams),
            kind=kind,
            allow_all=allow_all,
        )
        silence = new_silence(request, silence_id or new_silence_id(), self.clock())
        self.store.add_silence(silence)
        try:
            client = await self._client()
            await client.start_workflow(
                SilenceWorkflow.run,
                SilenceRun(silence_id=silence.id),
                id=silence_workflow_id(silence.id),
                task_queue=self.task_queue,
            )
        except (RPCError, RuntimeError, OSError, ServiceUnavailable) as err:
            self.store.remove_silence(silence.id)
            raise ServiceUnavailable(
                f"silence not saved: its timer could not be started ({err}); retry"
            ) from err
        self._changed()
        return silence

    def get(self, silence_id: str) -> Silence:
        found = self.store.get_silence(silence_id.strip())
        if found is None:
            raise SilenceNotFound(f"no silence {silence_id.strip()!r} (see `sevflow silence list`)")
        return found

    def list(self, recent: timedelta | None = RECENT) -> list[Silence]:
        now = self.clock()
        return self.store.list_silences(now, ended_since=now - recent if recent is not None else None)

    async def expire(self, silence_id: str, *, by: str, version: int | None = None) -> Silence:
        """End it now. Of two expiries (or an expiry and an edit) at once, one wins; the other is told."""
        current = self.get(silence_id)
        done = self.store.expire_silence(current.id, self.config.canonical(by) or by, seen=version)
        self._changed()
        await self._wake(done)
        return done

    async def edit(
        self,
        silence_id: str,
        *,
        by: str,
        version: int | None = None,
        ends_at: datetime | None = None,
        length: timedelta | None = None,
        reason: str | None = None,
    ) -> Silence:
        """A new end (`ends_at`, or `length` from now) or reason, from the version the caller saw."""
        current = self.get(silence_id)
        self.owner(by)
        if ends_at is not None and length is not None:
            raise SilenceRefused("give the end or the length (--until or --for), not both")
        if ends_at is None and length is None and reason is None:
            raise SilenceRefused("nothing to change: give --until, --for or --reason")
        now = self.clock()
        new_end = aware(ends_at) if ends_at is not None else (now + length if length is not None else None)
        changed = edited(current, now, ends_at=new_end, reason=reason)
        done = self.store.update_silence(changed, version if version is not None else current.version)
        self._changed()
        await self._wake(done)
        return done

    async def _wake(self, silence: Silence) -> None:
        """Tell the timer to look again now; if it cannot be told, it still ends at the stored end time
        (and announces an early expiry then)."""
        try:
            client = await self._client()
            await client.get_workflow_handle(silence_workflow_id(silence.id)).signal(SilenceWorkflow.changed)
        except (RPCError, RuntimeError, OSError, ServiceUnavailable) as err:
            log.warning("silence %s changed, its timer not told (it ends on its own): %s", silence.id, err)

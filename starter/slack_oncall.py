"""`/oncall` from Slack: who is on, covers, leave and swaps, done through OnCallService as the CLI and
the API do them; silences (`/oncall silence|silences|unsilence`) through SilenceService. The Slack user
is their `people:` name (U0BOB is bob), so the same permission holds. The answer is a sentence shown
only to the person who asked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sevflow.errors import SevflowError
from sevflow.oncall import on_call_board
from sevflow.oncall.changes import CoverRequest, EditRequest, SwapRequest
from sevflow.silences.models import Silence, SilenceKind
from sevflow.slack.oncall_command import (
    SILENCE_VERBS,
    USAGE,
    OnCallCommand,
    OnCallCommandError,
    parse_oncall_command,
)
from starter.ingest import STORE_UNAVAILABLE
from starter.oncall import OnCallService
from starter.silences import SilenceService

NO_REASON = "no reason given (Slack)"


def answer_oncall(service: OnCallService, text: str, user_id: str) -> str:
    """What `/oncall <text>` from `user_id` does, as the sentence to show them (blocking: the store)."""
    try:
        command = parse_oncall_command(text)
    except OnCallCommandError as err:
        return f"{err}\nUsage: {USAGE}"
    try:
        return _do(service, command, user_id)
    except SevflowError as err:
        return f"Not done: {err}"
    except STORE_UNAVAILABLE as err:
        return _database_unavailable(err)
    except ValueError as err:  # pydantic's, for what the parser let through
        return f"Not done: {str(err).splitlines()[0]}\nUsage: {USAGE}"


def _do(service: OnCallService, command: OnCallCommand, user_id: str) -> str:
    reason = command.reason or NO_REASON
    if command.verb in SILENCE_VERBS:
        return "Silences are not served here: use `sevflow silence` or POST /v1/silences."
    if command.verb == "who":
        effective = service.effective()
        board = on_call_board(effective.config, datetime.now(UTC))
        lines = [
            f"{row.rotation} {row.layer}: {row.on.person if row.on else 'nobody'}"
            + (f" (until {row.on.shift_end:%Y-%m-%d %H:%M} UTC)" if row.on else "")
            for row in board.rotations
        ]
        return "\n".join([f"On call now (configuration {effective.version}):", *lines])
    if command.verb == "list":
        changes = service.changes()
        if not changes:
            return "No on-call changes: the schedule is sevflow.yaml's."
        # The version is what `/oncall edit ID vN` names: an edit of a change moved since is refused.
        return "\n".join(f"{c.describe()} (by {c.created_by}; v{c.version})" for c in changes)
    if command.verb == "cover":
        change = service.cover(
            CoverRequest(
                person=command.person,
                duration=command.duration,
                rotation=command.rotation,
                reason=reason,
                by=user_id,
            )
        )
        return f"Done: {change.describe()}. Remove it with /oncall remove {change.id}."
    if command.verb == "leave":
        change = service.cover(
            CoverRequest(
                person=None,
                instead_of=user_id,
                starts_at=command.start,
                ends_at=command.end,
                reason=reason,
                by=user_id,
            )
        )
        undo = f"/oncall remove {change.id} undoes it"
        return f"Done: {change.describe()} (nobody covers: the gap check reports it). {undo}."
    if command.verb == "swap":
        assert command.person is not None and command.start is not None and command.end is not None
        change = service.swap(
            SwapRequest(
                person=command.person, mine=command.start, theirs=command.end, reason=reason, by=user_id
            )
        )
        return f"Asked: {change.describe()}. {change.person} confirms with /oncall confirm {change.id}."
    assert command.change_id is not None
    if command.verb == "edit":
        edited = service.edit(
            command.change_id,
            EditRequest(
                ends_at=command.end,
                person=command.person,
                version=command.version,
                reason=command.reason or None,
                by=user_id,
            ),
        )
        if edited.id != command.change_id:  # a cover under way: it ends now, a new one has the rest
            return f"Changed: #{command.change_id} ends now; {edited.describe()} (v{edited.version})."
        return f"Changed: {edited.describe()} (v{edited.version})."
    if command.verb == "confirm":
        return f"Confirmed: {service.confirm(command.change_id, user_id).describe()}."
    removed = service.remove(command.change_id, user_id)
    if removed.status == "active":  # under way: ended now, its past kept on the record
        return f"Ended now: {removed.describe()}."
    return f"Removed: {removed.describe()}."


async def answer_silence(service: SilenceService, text: str, user_id: str) -> str:
    """What `/oncall silence|silences|unsilence ...` from `user_id` does, through the SilenceService the
    CLI and the API use: the Slack user is the silence's owner (U0ALICE is alice), refused when they
    are none of sevflow.yaml's people."""
    try:
        command = parse_oncall_command(text)
    except OnCallCommandError as err:
        return f"{err}\nUsage: {USAGE}"
    try:
        if command.verb == "silences":
            return _silences(await asyncio.to_thread(service.list, None), service.clock())
        if command.verb == "unsilence":
            done = await service.expire(command.silence_id or "", by=user_id)
            return f"Expired: {done.id} {done.describe()} pages again."
        silence = await service.add(
            command.matchers, reason=command.reason, by=user_id, length=command.duration
        )
    except SevflowError as err:
        return f"Not done: {err}"
    except STORE_UNAVAILABLE as err:
        return _database_unavailable(err)
    return (
        f"Silenced: {silence.id} {silence.describe()} pages nobody until "
        f"{silence.ends_at:%Y-%m-%d %H:%M} UTC ({silence.reason}). End it sooner with "
        f"/oncall unsilence {silence.id}."
    )


def _database_unavailable(err: Exception) -> str:
    """Slack hears why, not a 500: a write that failed is rolled back, but one whose commit went
    unanswered may have happened, so the person looks before sending it again."""
    first = next(iter(str(getattr(err, "orig", None) or err).splitlines()), "")[:200]
    return (
        f"Not done: sevflow's database did not answer ({first}). Look with `/oncall list` before trying "
        "again."
    )


def _silences(found: list[Silence], now: datetime) -> str:
    if not found:
        return "No silences: every alert pages."
    lines = []
    for s in sorted(found, key=lambda s: (s.starts_at, s.id)):
        when = (
            f"until {s.ends_at:%Y-%m-%d %H:%M} UTC"
            if s.active(now)
            else f"from {s.starts_at:%Y-%m-%d %H:%M} to {s.ends_at:%Y-%m-%d %H:%M} UTC"
        )
        kind = "maintenance " if s.kind is SilenceKind.MAINTENANCE else ""
        lines.append(f"{s.id} {kind}{s.state(now)}: {s.describe()} {when}, by {s.owner}: {s.reason}")
    return "\n".join(lines)

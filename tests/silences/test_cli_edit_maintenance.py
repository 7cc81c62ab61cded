"""`sevflow silence edit` and `sevflow maintenance add` as a person runs them (issue 17): an edit moves
the end or the reason from the version it saw, a maintenance window silences its services' alerts while
it lasts and none before; every mistake is one line on stderr with the reason, never a traceback. The
Typer app, a worker with the real activities and the ingest the API runs, on the dev server."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.silences.test_cli_silence import Stack, stack

__all__ = ["stack"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


async def add(stack: Stack, *args: str) -> dict[str, object]:
    made = await stack.run("silence", "add", 'alertname="DiskFull"', *args, "--json")
    found: dict[str, object] = json.loads(made.stdout)
    return found


@pytest.mark.timeout(120)
async def test_edit_moves_the_end_and_the_reason_from_the_version_seen(stack: Stack) -> None:
    made = await add(stack, "--for", "1h", "--reason", "resizing")
    silence_id = str(made["id"])
    before = datetime.now(UTC)
    edited = await stack.run("silence", "edit", silence_id, "--for", "3h", "--reason", "bigger volume")
    stored = stack.store.get_silence(silence_id)
    assert stored is not None
    assert (stored.reason, stored.version) == ("bigger volume", 2)
    assert before + timedelta(hours=3) - timedelta(seconds=5) <= stored.ends_at
    assert stored.ends_at <= datetime.now(UTC) + timedelta(hours=3)
    assert edited.stdout.strip() == f"{silence_id} now ends {stored.ends_at:%Y-%m-%d %H:%M} UTC (version 2)"

    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    await stack.run("silence", "edit", silence_id, "--until", iso(until), "--version", "2", "--by", "U0BOB")
    stored = stack.store.get_silence(silence_id)
    assert stored is not None
    assert (stored.ends_at, stored.reason, stored.version) == (until, "bigger volume", 3)

    # The version someone saw before the last edit: refused, saying what it is now.
    stale = await stack.error("silence", "edit", silence_id, "--for", "2h", "--version", "2")
    assert stale.startswith(f"silence {silence_id} was changed meanwhile (version 2 -> 3): it now ends ")
    assert stale.endswith("reason 'bigger volume'; look again and retry")

    assert await stack.error("silence", "edit", silence_id) == (
        "nothing to change: give --until, --for or --reason"
    )
    assert await stack.error("silence", "edit", silence_id, "--for", "1h", "--until", iso(until)) == (
        "give the end or the length (--until or --for), not both"
    )
    past = await stack.error("silence", "edit", silence_id, "--until", "2020-01-01T00:00Z")
    assert past == "the end 2020-01-01T00:00:00+00:00 is in the past: expire it instead"
    assert "at most 30d" in await stack.error("silence", "edit", silence_id, "--for", "31d", code=2)
    assert await stack.error("silence", "edit", silence_id, "--until", "soon", code=2) == (
        "--until 'soon' is not a time: write it like 2026-12-24T06:00+01:00 or now"
    )
    assert "not one of sevflow.yaml's people" in await stack.error(
        "silence", "edit", silence_id, "--reason", "x", "--by", "mallory"
    )
    assert await stack.error("silence", "edit", "s-nope", "--for", "1h") == (
        "no silence 's-nope' (see `sevflow silence list`)"
    )
    # Nothing of the refused edits was applied.
    stored = stack.store.get_silence(silence_id)
    assert stored is not None and (stored.ends_at, stored.version) == (until, 3)

    await stack.run("silence", "expire", silence_id)
    assert await stack.error("silence", "edit", silence_id, "--for", "1h") == (
        f"silence {silence_id} has ended: make a new one"
    )


@pytest.mark.timeout(120)
async def test_maintenance_add_silences_its_services_while_it_lasts(stack: Stack) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    planned = json.loads(
        (
            await stack.run(
                "maintenance", "add", "--service", "checkout", "--from", iso(start),
                "--to", iso(start + timedelta(hours=2)), "--reason", "db upgrade", "--by", "U0BOB", "--json",
            )
        ).stdout
    )  # fmt: skip
    assert (planned["kind"], planned["services"], planned["teams"], planned["owner"]) == (
        "maintenance",
        ["checkout"],
        ["payments"],
        "bob",
    )
    # Planned for later: the service's alerts page now.
    assert (await stack.fire("DiskFull", f"g-{uuid.uuid4().hex[:8]}")).outcome == "signalled"

    said = (
        await stack.run("maintenance", "add", "--service", "checkout", "--for", "1h", "--match", 'env="prod"')
    ).stdout.strip()
    window_id = said.split()[0]
    assert said.startswith(f'{window_id} planned: checkout {{env="prod"}} pages nobody until ')
    held = await stack.fire("HighLatency", f"g-{uuid.uuid4().hex[:8]}")
    assert held.outcome == "silenced" and set(held.silenced.values()) == {window_id}

    later = (
        await stack.run(
            "maintenance", "add", "--service", "checkout", "--from", iso(start), "--for", "30m",
        )
    ).stdout  # fmt: skip
    assert f"pages nobody from {start:%Y-%m-%d %H:%M} UTC until " in later


async def test_maintenance_mistakes_are_one_line(stack: Stack) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    assert await stack.error("maintenance", "add", "--service", "nope", "--for", "1h") == (
        "no service 'nope' in sevflow.yaml (services: checkout)"
    )
    assert "needs an end" in await stack.error("maintenance", "add", "--service", "checkout")
    backwards = await stack.error(
        "maintenance", "add", "--service", "checkout",
        "--from", iso(now + timedelta(hours=2)), "--to", iso(now + timedelta(hours=1)),
    )  # fmt: skip
    assert "is not after the start" in backwards
    assert "the start is too far ahead: at most 90d" in await stack.error(
        "maintenance", "add", "--service", "checkout", "--from", iso(now + timedelta(days=91)), "--for", "1h"
    )
    assert await stack.error("maintenance", "add", "--service", "checkout", "--to", "friday", code=2) == (
        "--to 'friday' is not a time: write it like 2026-12-24T06:00+01:00 or now"
    )
    assert "invalid matcher" in await stack.error(
        "maintenance", "add", "--service", "checkout", "--for", "1h", "--match", "env=prod}"
    )
    missing = await stack.run("maintenance", "add", "--for", "1h", code=2)
    assert "--service" in missing.stderr and "Traceback" not in missing.stderr
    assert stack.store.list_silences(stack.store._clock()) == []

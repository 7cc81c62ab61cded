"""After an on-call change is saved, its rotation's handoff workflow is told; when it cannot be, the
change stands and the person is told when the notices will move (starter/handoff_signals.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from sevflow.errors import ServiceUnavailable
from sevflow.oncall.changes import OnCallChange
from starter.handoff_signals import blocking, blocking_many, on_loop

NOW = datetime(2027, 3, 22, 18, tzinfo=UTC)


def change() -> OnCallChange:
    return OnCallChange(
        id=12,
        kind="cover",
        status="active",
        rotation="payments-weekly",
        layer="primary",
        person="carol",
        replaces="bob",
        starts_at=NOW + timedelta(hours=2),
        ends_at=NOW + timedelta(hours=4),
        reason="evening",
        created_by="bob",
        created_at=NOW,
        updated_by="bob",
        updated_at=NOW,
    )


def test_the_cli_says_when_temporal_cannot_be_told_and_the_change_stands() -> None:
    async def unreachable() -> Client:
        raise ServiceUnavailable("cannot reach Temporal at 127.0.0.1:7233: is `sevflow up` running?")

    said: list[str] = []
    blocking(unreachable, said.append)(change())  # no exception: the change is saved already
    assert said == [
        "#12 saved; the handoff notices of payments-weekly move at its next handoff or the next worker "
        "start (Temporal: cannot reach Temporal at 127.0.0.1:7233: is `sevflow up` running?)"
    ]


def test_the_api_without_an_event_loop_yet_logs_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def never() -> Client:
        raise AssertionError("no loop: nothing is sent")

    with caplog.at_level(logging.WARNING, logger="sevflow.oncall"):
        on_loop(lambda: None, never)(change())
    assert "#12 saved with no event loop to signal from" in caplog.text


def test_the_import_says_when_temporal_cannot_be_told_and_its_changes_stand() -> None:
    async def unreachable() -> Client:
        raise ServiceUnavailable("cannot reach Temporal at 127.0.0.1:7233: is `sevflow up` running?")

    async def never() -> Client:
        raise AssertionError("no rotation moved: nothing is sent")

    said: list[str] = []
    blocking_many(unreachable, ["payments-weekly", "web"], "runtime on-call changes imported", said.append)
    blocking_many(never, [], "runtime on-call changes imported", said.append)
    assert said == [
        "runtime on-call changes imported; the handoff notices of payments-weekly, web move at their "
        "next handoff or the next worker start (Temporal: cannot reach Temporal at 127.0.0.1:7233: is "
        "`sevflow up` running?)"
    ]


def asked_swap() -> OnCallChange:
    return change().model_copy(
        update={
            "id": 7,
            "kind": "swap",
            "status": "pending",
            "swap_starts_at": NOW + timedelta(days=2),
            "swap_ends_at": NOW + timedelta(days=2, hours=2),
        }
    )


def test_the_cli_says_who_was_not_told_of_a_swap_when_temporal_cannot_be_reached() -> None:
    async def unreachable() -> Client:
        raise ServiceUnavailable("cannot reach Temporal at 127.0.0.1:7233: is `sevflow up` running?")

    said: list[str] = []
    blocking(unreachable, said.append, "sevflow")(asked_swap())  # the swap stands
    confirmed = asked_swap().model_copy(update={"status": "active", "confirmed_by": "carol"})
    blocking(unreachable, said.append, "sevflow")(confirmed)
    # Confirmed by whoever asked (a lead, for carol): carol, whose shift it moves, is the one to tell.
    by_bob = confirmed.model_copy(update={"confirmed_by": "bob"})
    blocking(unreachable, said.append, "sevflow")(by_bob)
    why = "(Temporal: cannot reach Temporal at 127.0.0.1:7233: is `sevflow up` running?)"
    moved = "the handoff notices of payments-weekly move at its next handoff or the next worker start"
    assert said == [
        f"#7 saved; {moved}, and carol was not told it awaits a confirmation: ask carol to run "
        f"`sevflow oncall confirm 7` {why}",
        f"#7 saved; {moved}, and bob was not told it is in force {why}",
        f"#7 saved; {moved}, and carol was not told it is in force {why}",
    ]

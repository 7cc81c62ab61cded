"""The dashboard's on-call page lists the runtime covers and swaps, with a Remove button that posts
with the session's CSRF token, as the signed-in person, under the same permission as the CLI."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime, timedelta

import pytest

from sevflow.oncall.changes import CoverRequest
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.store.repository import Store
from starter.oncall import OnCallService
from tests.unit.oncall.runtime_fixtures import oncall_config, oncall_config_mid_shift

from .conftest import OPERATOR, VIEWER, MakeDashboard, browse, csrf_of, sign_in


def made_by_lena(store: Store) -> int:
    service = OnCallService(oncall_config(), store)
    return service.cover(
        CoverRequest(person="zed", duration=timedelta(hours=2), reason="drill", by="lena")
    ).id


async def test_a_change_is_listed_and_removed_from_the_page(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    change_id = made_by_lena(sqlite_store)
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, OPERATOR, name="zed")
        page = await client.get("/oncall")
        assert page.status_code == 200
        assert f"#{change_id} zed covers ops-daily primary" in page.text and "drill" in page.text
        csrf = csrf_of(page.text)

        forged = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": "forged"})
        assert forged.status_code == 403
        removed = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": csrf})
        assert removed.status_code == 303, removed.text
        assert sqlite_store.oncall_change(change_id).status == "removed"
        again = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": csrf})
        assert again.status_code == 409 and "already removed" in again.text


async def test_someone_else_is_refused_on_the_page(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    change_id = made_by_lena(sqlite_store)
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, OPERATOR, name="bob")
        csrf = csrf_of((await client.get("/oncall")).text)
        refused = await client.post(f"/oncall/changes/{change_id}/remove", data={"csrf": csrf})
        assert refused.status_code == 403 and "bob may not change" in refused.text
        assert sqlite_store.oncall_change(change_id).status == "active"


async def test_a_viewer_sees_no_remove_button(make_dashboard: MakeDashboard, sqlite_store: Store) -> None:
    made_by_lena(sqlite_store)
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, VIEWER, name="bob")
        page = await client.get("/oncall")
        assert "zed covers" in page.text and "/remove" not in page.text


def flash(html: str) -> str:
    found = re.search(r'id="flash">([^<]*)<', html)
    assert found, "the page says nothing"
    return htmllib.unescape(found.group(1))


async def test_a_cover_and_leave_are_made_and_edited_from_the_page(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    # A few hours from now stay in the shift of the person on now (ops-daily hands over at 09:00 UTC).
    config = oncall_config_mid_shift()
    scheduled = OnCallService(config, sqlite_store).effective().config
    on_now = who_is_on(Rotation.from_config(scheduled, "ops-daily"), "primary", datetime.now(UTC))
    assert on_now is not None and on_now.person is not None
    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, OPERATOR, name=on_now.person)
        page = await client.get("/oncall")
        assert 'action="/oncall/changes"' in page.text
        csrf = csrf_of(page.text)
        cover = {"csrf": csrf, "person": "zed", "duration": "2h", "reason": "dentist"}
        made = await client.post("/oncall/changes", data=cover)
        assert made.status_code == 303, flash(made.text)
        [change] = sqlite_store.oncall_changes()
        assert made.headers["location"] == f"/oncall?made={change.id}"
        assert (change.person, change.replaces, change.created_by, change.reason) == (
            "zed",
            None,
            on_now.person,
            "dentist",
        )
        shown = await client.get(made.headers["location"])
        assert flash(shown.text) == f"Made: #{change.id}."
        assert f"#{change.id} zed covers ops-daily primary" in shown.text
        # The same shift again: the conflict told in words, the form given back as typed.
        again = await client.post("/oncall/changes", data=cover)
        assert again.status_code == 409
        assert flash(again.text).startswith(f"it overlaps #{change.id} zed covers ops-daily primary")
        assert 'value="dentist"' in again.text

        # Edited from the version the page showed; a second edit from that same page is refused.
        end = (change.ends_at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        edit = {"csrf": csrf, "version": str(change.version), "to": end, "person": "lena"}
        edited = await client.post(f"/oncall/changes/{change.id}/edit", data=edit)
        assert edited.status_code == 303, flash(edited.text)
        now = sqlite_store.oncall_change(change.id)
        assert (now.person, now.ends_at, now.version) == (
            "lena",
            datetime.fromisoformat(end).replace(tzinfo=UTC),
            change.version + 1,
        )
        stale = await client.post(f"/oncall/changes/{change.id}/edit", data={**edit, "person": "bob"})
        assert stale.status_code == 409
        assert f"#{change.id} changed since you read it (version {change.version}; now {now.version}" in (
            flash(stale.text)
        )
        assert sqlite_store.oncall_change(change.id).person == "lena"

    # Leave, by a lead of the team: nobody is on for that hour (the gap check reports it).
    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, OPERATOR, name="lena")
        csrf = csrf_of((await client.get("/oncall")).text)
        start = (now.ends_at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        leave = {"csrf": csrf, "person": "nobody", "from": start, "duration": "1h", "reason": "offsite"}
        taken = await client.post("/oncall/changes", data=leave)
        assert taken.status_code == 303, flash(taken.text)
        last = sqlite_store.oncall_changes()[-1]
        assert (last.person, last.starts_at, last.created_by) == (
            None,
            datetime.fromisoformat(start).replace(tzinfo=UTC),
            "lena",
        )
        assert f"#{last.id} nobody covers ops-daily primary" in (await client.get("/oncall")).text


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"person": "ghost", "duration": "2h", "reason": "x"}, 400, "unknown person 'ghost'"),
        ({"person": "zed", "reason": "x"}, 400, "say until when"),
        ({"person": "zed", "duration": "soon", "reason": "x"}, 422, "duration: "),
        ({"person": "zed", "to": "friday", "reason": "x"}, 422, "to: 'friday' is not a time"),
        ({"person": "zed", "duration": "2h", "reason": " "}, 400, "say why"),
        ({"person": "zed", "duration": "2h", "reason": "x", "layer": "middle"}, 400, "has no middle layer"),
        ({"person": "zed", "duration": "2h", "reason": "x", "rotation": "web"}, 400, "unknown rotation"),
    ],
)
async def test_a_form_that_cannot_be_a_change_says_why(
    make_dashboard: MakeDashboard, sqlite_store: Store, form: dict[str, str], status: int, words: str
) -> None:
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, OPERATOR, name="lena")
        csrf = csrf_of((await client.get("/oncall")).text)
        refused = await client.post("/oncall/changes", data={"csrf": csrf, **form})
        assert refused.status_code == status, flash(refused.text)
        assert words in flash(refused.text)
        assert sqlite_store.oncall_changes() == []


async def test_someone_else_may_not_hand_a_shift_away_from_the_page(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    change_id = made_by_lena(sqlite_store)
    async with browse(make_dashboard(config=oncall_config())) as client:
        await sign_in(client, OPERATOR, name="zed")  # on no rotation, no lead
        csrf = csrf_of((await client.get("/oncall")).text)
        later = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
        take = {"csrf": csrf, "person": "zed", "from": later, "duration": "1h", "reason": "x"}
        taken = await client.post("/oncall/changes", data=take)
        assert taken.status_code == 403 and "may change only their own shifts" in flash(taken.text)
        moved = await client.post(f"/oncall/changes/{change_id}/edit", data={"csrf": csrf, "person": "bob"})
        assert moved.status_code == 403 and "zed may change only their own shifts" in flash(moved.text)
        assert sqlite_store.oncall_change(change_id).person == "zed"
    async with browse(make_dashboard(config=oncall_config())) as viewer:
        await sign_in(viewer, VIEWER, name="lena")
        page = await viewer.get("/oncall")
        assert 'action="/oncall/changes"' not in page.text and "/edit" not in page.text


def _local(moment: datetime) -> str:
    """As a datetime-local input sends it (the dashboard's times are UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def test_a_swap_is_asked_on_the_page_and_confirmed_on_the_second_persons_page(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    # ops-daily hands over six hours ago: the person on now, then the next one tomorrow.
    config = oncall_config_mid_shift()
    rotation = Rotation.from_config(config, "ops-daily")
    now = datetime.now(UTC)
    mine, theirs = (
        who_is_on(rotation, "primary", now),
        who_is_on(rotation, "primary", now + timedelta(days=1)),
    )
    assert mine is not None and theirs is not None and mine.person != theirs.person
    third = next(p for p in ("alice", "bob", "carol") if p not in (mine.person, theirs.person))
    ask = {"person": str(theirs.person), "reason": "family"}
    ask |= {"mine": _local(now + timedelta(hours=1)), "theirs": _local(now + timedelta(days=1, hours=1))}

    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, OPERATOR, name=mine.person)
        page = await client.get("/oncall")
        assert 'action="/oncall/swaps"' in page.text
        csrf = csrf_of(page.text)
        # Only their own shift to give away: a time in someone else's is refused, in words.
        wrong = await client.post("/oncall/swaps", data={"csrf": csrf, **ask, "mine": ask["theirs"]})
        assert wrong.status_code == 400, flash(wrong.text)
        assert 'value="family"' in wrong.text  # the form given back as typed
        missing = await client.post("/oncall/swaps", data={"csrf": csrf, **ask, "theirs": ""})
        assert missing.status_code == 422 and "say which shifts" in flash(missing.text)
        asked = await client.post("/oncall/swaps", data={"csrf": csrf, **ask})
        assert asked.status_code == 303, flash(asked.text)
        [swap] = sqlite_store.oncall_changes()
        assert asked.headers["location"] == f"/oncall?asked={swap.id}"
        assert (swap.kind, swap.status, swap.person, swap.replaces) == (
            "swap",
            "pending",
            theirs.person,
            mine.person,
        )
        shown = await client.get(asked.headers["location"])
        assert flash(shown.text) == f"Asked: #{swap.id}."
        assert f"waiting for {theirs.person} to confirm" in shown.text
        # The asker has nothing to confirm: no button, and the route refuses them.
        assert f"/oncall/swaps/{swap.id}/confirm" not in shown.text
        self_confirm = await client.post(f"/oncall/swaps/{swap.id}/confirm", data={"csrf": csrf})
        assert self_confirm.status_code == 403 and f"only {theirs.person}" in flash(self_confirm.text)

    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, OPERATOR, name=third)
        page = await client.get("/oncall")
        assert 'id="waiting"' not in page.text and f"/oncall/swaps/{swap.id}/confirm" not in page.text
        refused = await client.post(f"/oncall/swaps/{swap.id}/confirm", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403
        assert sqlite_store.oncall_change(swap.id).status == "pending"

    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, OPERATOR, name=theirs.person)
        page = await client.get("/oncall")
        assert 'id="waiting"' in page.text and f"Confirm #{swap.id}" in page.text
        csrf = csrf_of(page.text)
        confirmed = await client.post(f"/oncall/swaps/{swap.id}/confirm", data={"csrf": csrf})
        assert confirmed.status_code == 303, flash(confirmed.text)
        assert confirmed.headers["location"] == f"/oncall?confirmed={swap.id}"
        stored = sqlite_store.oncall_change(swap.id)
        assert (stored.status, stored.confirmed_by) == ("active", theirs.person)
        after = await client.get(confirmed.headers["location"])
        assert flash(after.text) == f"Confirmed: #{swap.id}." and 'id="waiting"' not in after.text
        twice = await client.post(f"/oncall/swaps/{swap.id}/confirm", data={"csrf": csrf})
        assert twice.status_code == 409 and "already confirmed" in flash(twice.text)
    # In force: who is on in an hour is the person asked.
    effective = OnCallService(config, sqlite_store).effective().config
    swapped = who_is_on(
        Rotation.from_config(effective, "ops-daily"), "primary", now + timedelta(hours=1), effective.overrides
    )
    assert swapped is not None and (swapped.person, swapped.replaces) == (theirs.person, mine.person)

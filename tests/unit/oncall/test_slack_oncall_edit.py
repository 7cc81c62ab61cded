"""`/oncall edit` and `/oncall remove` from Slack on a real store: the same permission and refusals as
the CLI and the API (through OnCallService), and two people editing one change from the same list: one
wins, the other is told."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.store.repository import Store
from starter.oncall import OnCallService
from starter.slack_oncall import answer_oncall
from tests.unit.oncall.runtime_fixtures import oncall_config_mid_shift

IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "lena": "U0LENA", "zed": "U0ZED"}


def covered(store: Store) -> tuple[OnCallService, str, int]:
    """The service, who is on now (their Slack id) and the id of a 2h cover of theirs by zed."""
    config = oncall_config_mid_shift()
    service = OnCallService(config, store)
    on = who_is_on(Rotation.from_config(config, "ops-daily"), "primary", datetime.now(UTC))
    assert on is not None and on.person is not None
    me = IDS[on.person]
    done = answer_oncall(service, "cover <@U0ZED|zed> 2h dentist", me)
    assert done.startswith("Done:"), done
    return service, me, service.changes()[0].id


def test_an_edit_from_slack_moves_the_person_and_the_end_and_says_the_version(sqlite_store: Store) -> None:
    service, me, change_id = covered(sqlite_store)
    change = sqlite_store.oncall_change(change_id)
    listed = answer_oncall(service, "list", me)
    assert f"#{change_id} zed covers ops-daily primary" in listed and "v1)" in listed

    end_at = (change.ends_at + timedelta(hours=1)).replace(second=0, microsecond=0)
    end = end_at.replace(tzinfo=None).isoformat(timespec="minutes")
    said = answer_oncall(service, f"edit {change_id} v1 <@U0CAROL|carol> until {end} zed is ill", me)
    assert said.startswith(f"Changed: #{change_id} carol covers ops-daily primary"), said
    assert said.endswith("(v2).")
    now = sqlite_store.oncall_change(change_id)
    assert (now.person, now.ends_at, now.version, now.reason, now.updated_by) == (
        "carol",
        end_at,
        2,
        "zed is ill",
        service.base.canonical(me),
    )


def test_someone_else_is_refused_as_the_cli_refuses_them(sqlite_store: Store) -> None:
    service, me, change_id = covered(sqlite_store)
    # bob is neither who made it, nor a person it names, nor a lead of ops.
    refused = answer_oncall(service, f"edit {change_id} @bob", "U0BOB")
    assert refused.startswith(f"Not done: bob may not change #{change_id}"), refused
    assert answer_oncall(service, f"remove {change_id}", "U0BOB").startswith("Not done: bob may not")
    assert sqlite_store.oncall_change(change_id).person == "zed"
    # An unknown person, a swap's fields, an end in the past: the CLI's own words.
    unknown = answer_oncall(service, f"edit {change_id} @ghost", me)
    assert unknown.startswith("Not done: unknown person 'ghost'"), unknown
    past = (datetime.now(UTC) - timedelta(days=2)).replace(tzinfo=None).isoformat(timespec="minutes")
    assert "must be after the start" in answer_oncall(service, f"edit {change_id} until {past}", me)
    assert answer_oncall(service, "edit 999 @carol", me).startswith("Not done:")
    # The lead may; and removing it twice says who did it first.
    assert answer_oncall(service, f"remove {change_id}", "U0LENA").startswith(f"Removed: #{change_id}")
    again = answer_oncall(service, f"remove {change_id}", me)
    assert again == f"Not done: #{change_id} was already removed by lena"
    assert "was removed by lena" in answer_oncall(service, f"edit {change_id} @carol", me)


def test_two_edits_from_the_same_list_one_wins_and_the_other_is_told(sqlite_store: Store) -> None:
    service, me, change_id = covered(sqlite_store)
    start = threading.Barrier(2)
    said: dict[str, str] = {}

    def edit(user: str, person: str) -> None:
        start.wait()
        said[user] = answer_oncall(service, f"edit {change_id} v1 @{person}", user)

    threads = [
        threading.Thread(target=edit, args=(me, "carol")),
        threading.Thread(target=edit, args=("U0LENA", "bob")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    won = [user for user, text in said.items() if text.startswith("Changed:")]
    lost = [user for user, text in said.items() if text.startswith("Not done:")]
    assert len(won) == 1 and len(lost) == 1, said
    assert f"#{change_id} changed since you read it (version 1; now 2" in said[lost[0]]
    stored = sqlite_store.oncall_change(change_id)
    assert stored.version == 2 and stored.person == ("carol" if won == [me] else "bob")


def test_a_cover_under_way_edited_or_removed_from_slack_ends_now_and_says_so(sqlite_store: Store) -> None:
    # An hour into zed's cover: giving the rest to carol keeps zed's hour on the record (a new #2 has
    # the rest), and removing #2 an hour later ends it then rather than erasing carol's hour.
    config = oncall_config_mid_shift()
    now = [datetime.now(UTC)]
    service = OnCallService(config, sqlite_store, clock=lambda: now[0])
    on = who_is_on(Rotation.from_config(config, "ops-daily"), "primary", now[0])
    assert on is not None and on.person is not None
    me = IDS[on.person]
    assert answer_oncall(service, "cover <@U0ZED|zed> 3h dentist", me).startswith("Done: #1")
    now[0] += timedelta(hours=1)
    said = answer_oncall(service, "edit 1 v1 <@U0CAROL|carol> zed is ill", me)
    assert said.startswith("Changed: #1 ends now; #2 carol covers ops-daily primary"), said
    now[0] += timedelta(hours=1)
    assert answer_oncall(service, "remove 2", me).startswith("Ended now: #2 carol covers"), said
    assert [(c.person, c.status) for c in sqlite_store.oncall_changes(include_removed=True)] == [
        ("zed", "active"),
        ("carol", "active"),
    ]

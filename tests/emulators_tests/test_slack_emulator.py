"""The Slack Web API emulator, driven by the real slack_sdk WebClient as sevflow drives it."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.emulators import DEFAULT_TOKEN, SlackEmulator

TS = re.compile(r"^\d{10}\.\d{6}$")


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    client = WebClient(token=slack.token, base_url=slack.base_url, timeout=5)
    client.retry_handlers = []  # sevflow lets Temporal retry
    return client


def error_of(call: Any, *args: Any, **kwargs: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def raw_post(url: str, body: bytes, content_type: str | None, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST")
    if content_type:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def new_channel(client: WebClient, name: str = "inc-1-checkout") -> str:
    return str(client.conversations_create(name=name)["channel"]["id"])


# ---------------------------------------------------------------- server and auth


def test_binds_loopback_on_a_free_port_and_stops() -> None:
    started = time.perf_counter()
    with SlackEmulator() as one, SlackEmulator() as two:
        assert time.perf_counter() - started < 1
        assert one.base_url.startswith("http://127.0.0.1:") and one.base_url.endswith("/api/")
        assert one.port != two.port
        url = one.base_url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "auth.test", timeout=1)


def test_auth_test(client: WebClient, slack: SlackEmulator) -> None:
    data = client.auth_test().data
    assert data == {
        "ok": True,
        "url": "https://sevflow.slack.com/",
        "team": "sevflow",
        "user": "sevflow",
        "team_id": slack.team_id,
        "user_id": slack.bot_user_id,
        "bot_id": slack.bot_id,
        "is_enterprise_install": False,
    }
    call = slack.calls("auth.test")[0]
    assert call["headers"]["authorization"] == f"Bearer {DEFAULT_TOKEN}"
    assert call["token"] == DEFAULT_TOKEN


def test_missing_token_is_not_authed(slack: SlackEmulator) -> None:
    anonymous = WebClient(base_url=slack.base_url)
    anonymous.retry_handlers = []
    err = error_of(anonymous.chat_postMessage, channel="general", text="hi")
    assert err.response.status_code == 200
    assert err.response.data == {"ok": False, "error": "not_authed"}


def test_unknown_and_revoked_tokens(slack: SlackEmulator) -> None:
    assert error_of(slack.client("xoxb-nope").auth_test).response.data == {
        "ok": False,
        "error": "invalid_auth",
    }
    slack.add_token("xoxb-second")
    assert slack.client("xoxb-second").auth_test()["ok"]
    slack.revoke_token("xoxb-second")
    assert error_of(slack.client("xoxb-second").auth_test).response["error"] == "token_revoked"


def test_token_as_form_field_but_never_as_json_field(slack: SlackEmulator) -> None:
    status, body = raw_post(
        slack.base_url + "auth.test", f"token={DEFAULT_TOKEN}".encode(), "application/x-www-form-urlencoded"
    )
    assert (status, body["ok"]) == (200, True)
    status, body = raw_post(
        slack.base_url + "auth.test", json.dumps({"token": DEFAULT_TOKEN}).encode(), "application/json"
    )
    assert (status, body) == (200, {"ok": False, "error": "not_authed"})


def test_unknown_method(client: WebClient) -> None:
    assert error_of(client.api_call, "chat.frobnicate").response["error"] == "unknown_method"


# ---------------------------------------------------------------- body formats


def test_json_and_form_bodies_are_both_accepted(client: WebClient, slack: SlackEmulator) -> None:
    as_form = client.api_call("conversations.create", data={"name": "by-form"})
    as_json = client.api_call("conversations.create", json={"name": "by-json", "is_private": True})
    assert as_form["channel"]["name"] == "by-form" and not as_form["channel"]["is_private"]
    assert as_json["channel"]["name"] == "by-json" and as_json["channel"]["is_private"]
    formats = [c["body_format"] for c in slack.calls("conversations.create")]
    assert formats == ["form", "json"]

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]
    by_json = client.chat_postMessage(channel="by-form", text="j", blocks=blocks)
    by_form = client.api_call(
        "chat.postMessage", data={"channel": "by-form", "text": "f", "blocks": json.dumps(blocks)}
    )
    assert by_json["message"]["blocks"] == by_form["message"]["blocks"] == blocks
    assert [c["body_format"] for c in slack.calls("chat.postMessage")] == ["json", "form"]
    assert slack.calls("chat.postMessage")[1]["params"]["blocks"] == json.dumps(blocks)


def test_query_string_and_multipart(slack: SlackEmulator) -> None:
    request = urllib.request.Request(
        slack.base_url + "conversations.info?channel=general&include_num_members=true",
        headers={"Authorization": f"Bearer {slack.token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
    assert body["channel"]["name"] == "general" and body["channel"]["num_members"] == 5
    assert slack.calls("conversations.info")[0]["body_format"] == "query"

    boundary = "XyZ"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="channel"\r\n\r\ngeneral\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nfrom a form\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    status, body = raw_post(
        slack.base_url + "chat.postMessage",
        multipart,
        f"multipart/form-data; boundary={boundary}",
        slack.token,
    )
    assert status == 200 and body["message"]["text"] == "from a form"


def test_malformed_bodies(slack: SlackEmulator) -> None:
    url = slack.base_url + "chat.postMessage"
    assert raw_post(url, b"{nope", "application/json", slack.token)[1]["error"] == "invalid_json"
    assert raw_post(url, b"<x/>", "application/xml", slack.token)[1]["error"] == "invalid_post_type"
    warned = raw_post(url, b'{"channel": "general", "text": "hi"}', "application/json", slack.token)[1]
    assert warned["ok"] and warned["warning"] == "missing_charset"


# ---------------------------------------------------------------- conversations.*


def test_conversations_create(client: WebClient, slack: SlackEmulator) -> None:
    channel = client.conversations_create(name="inc-42-checkout-down")["channel"]
    assert re.match(r"^C[A-Z0-9]+$", channel["id"])
    assert channel["name"] == channel["name_normalized"] == "inc-42-checkout-down"
    assert channel["is_channel"] and channel["is_member"] and not channel["is_archived"]
    assert channel["creator"] == slack.bot_user_id
    assert channel["topic"] == {"value": "", "creator": "", "last_set": 0}
    assert slack.channel("inc-42-checkout-down")["members"] == [slack.bot_user_id]
    assert slack.channel(channel["id"])["id"] == channel["id"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Inc-1", "invalid_name_specials"),
        ("inc 1", "invalid_name_specials"),
        ("inc#1", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
        ("general", "name_taken"),
    ],
)
def test_conversations_create_name_rules(client: WebClient, name: str, error: str) -> None:
    assert error_of(client.conversations_create, name=name).response.data == {"ok": False, "error": error}


def test_archived_names_stay_taken_and_80_chars_is_fine(client: WebClient) -> None:
    assert client.conversations_create(name="x" * 80)["ok"]
    cid = new_channel(client, "old")
    client.conversations_archive(channel=cid)
    assert error_of(client.conversations_create, name="old").response["error"] == "name_taken"


def test_conversations_set_topic(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    topic = client.conversations_setTopic(channel=cid, topic="SEV1 · acknowledged · lead @alice")["channel"][
        "topic"
    ]
    assert topic["value"] == "SEV1 · acknowledged · lead @alice" and topic["creator"] == slack.bot_user_id
    assert slack.channel(cid)["topic"]["value"] == topic["value"]
    assert (
        error_of(client.conversations_setTopic, channel=cid, topic="x" * 251).response["error"] == "too_long"
    )
    assert (
        error_of(client.conversations_setTopic, channel="C404", topic="t").response["error"]
        == "channel_not_found"
    )
    slack.add_channel("elsewhere", bot_member=False)
    assert (
        error_of(client.conversations_setTopic, channel="elsewhere", topic="t").response["error"]
        == "not_in_channel"
    )
    client.conversations_archive(channel=cid)
    assert error_of(client.conversations_setTopic, channel=cid, topic="t").response["error"] == "is_archived"


def test_conversations_invite(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    channel = client.conversations_invite(channel=cid, users="U0ALICE,U0BOB")["channel"]
    assert channel["id"] == cid
    assert slack.channel(cid)["members"] == [slack.bot_user_id, "U0ALICE", "U0BOB"]


def test_conversations_invite_fails_as_a_whole(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    client.conversations_invite(channel=cid, users="U0ALICE")
    err = error_of(client.conversations_invite, channel=cid, users="U0ALICE,U0CAROL")
    assert err.response.data == {
        "ok": False,
        "error": "already_in_channel",
        "errors": [{"user": "U0ALICE", "ok": False, "error": "already_in_channel"}],
    }
    assert "U0CAROL" not in slack.channel(cid)["members"]  # one bad id and nobody is invited
    assert (
        error_of(client.conversations_invite, channel=cid, users="U0NOBODY").response["error"]
        == "user_not_found"
    )
    assert error_of(client.conversations_invite, channel=cid, users=slack.bot_user_id).response["error"] == (
        "cant_invite_self"
    )
    assert error_of(client.conversations_invite, channel=cid, users="").response["error"] == "no_user"
    forced = client.conversations_invite(channel=cid, users="U0ALICE,U0CAROL", force=True)
    assert forced["errors"] == [{"user": "U0ALICE", "ok": False, "error": "already_in_channel"}]
    assert "U0CAROL" in slack.channel(cid)["members"]


def test_conversations_archive(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    assert client.conversations_archive(channel=cid).data == {"ok": True}
    assert slack.channel(cid)["is_archived"]
    assert error_of(client.conversations_archive, channel=cid).response["error"] == "already_archived"
    assert (
        error_of(client.conversations_archive, channel="general").response["error"] == "cant_archive_general"
    )
    assert error_of(client.chat_postMessage, channel=cid, text="late").response["error"] == "is_archived"


def test_conversations_info_members_and_join(client: WebClient, slack: SlackEmulator) -> None:
    info = client.conversations_info(channel="general", include_num_members=True)["channel"]
    assert info["is_general"] and info["num_members"] == 5

    sizes: list[int] = []
    members: list[str] = []
    for page in client.conversations_members(channel=info["id"], limit=2):  # slack_sdk follows the cursor
        sizes.append(len(page["members"]))
        members += page["members"]
    assert sizes == [2, 2, 1] and members == slack.channel("general")["members"]

    outside = slack.add_channel("watercooler", members=["U0ALICE"], bot_member=False)
    assert not outside["is_member"]
    joined = client.conversations_join(channel=outside["id"])
    assert joined["channel"]["is_member"] and "warning" not in joined.data
    again = client.conversations_join(channel=outside["id"])
    assert again["warning"] == "already_in_channel"
    assert again["response_metadata"]["warnings"] == ["already_in_channel"]

    hidden = slack.add_channel("secret", is_private=True, bot_member=False)
    for method in (client.conversations_info, client.conversations_members, client.conversations_join):
        assert error_of(method, channel=hidden["id"]).response["error"] == "channel_not_found"


def test_conversations_list_paginates(client: WebClient, slack: SlackEmulator) -> None:
    for n in range(5):
        new_channel(client, f"inc-{n}")
    client.conversations_archive(channel="inc-0")
    slack.add_channel("private-mine", is_private=True)
    slack.add_channel("private-not-mine", is_private=True, bot_member=False)

    names = [c["name"] for page in client.conversations_list(limit=2) for c in page["channels"]]
    assert names == ["general", "inc-0", "inc-1", "inc-2", "inc-3", "inc-4"]
    live = [
        c["name"] for p in client.conversations_list(exclude_archived=True, limit=100) for c in p["channels"]
    ]
    assert "inc-0" not in live
    both = client.conversations_list(types="public_channel,private_channel", limit=1000)["channels"]
    assert "private-mine" in [c["name"] for c in both] and "private-not-mine" not in [c["name"] for c in both]
    assert error_of(client.conversations_list, cursor="bm9wZQ==").response["error"] == "invalid_cursor"
    assert error_of(client.conversations_list, limit="many").response["error"] == "invalid_limit"


def test_conversations_history(client: WebClient) -> None:
    cid = new_channel(client)
    posted = [client.chat_postMessage(channel=cid, text=f"m{n}")["ts"] for n in range(3)]
    client.chat_postMessage(channel=cid, text="reply", thread_ts=posted[0])
    first = client.conversations_history(channel=cid, limit=2)
    assert [m["text"] for m in first["messages"]] == ["m2", "m1"] and first["has_more"]
    rest = client.conversations_history(
        channel=cid, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["m0"] and not rest["has_more"]
    assert rest["messages"][0]["reply_count"] == 1


# ---------------------------------------------------------------- chat.*


def test_chat_post_message(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "INC-1"}},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "Ack"}}
            ],
        },
    ]
    first = client.chat_postMessage(channel=cid, text="INC-1 declared", blocks=blocks)
    assert first["channel"] == cid and TS.match(first["ts"])
    message = first["message"]
    assert message["text"] == "INC-1 declared" and message["blocks"] == blocks
    assert message["user"] == slack.bot_user_id and message["bot_id"] == slack.bot_id
    assert message["ts"] == first["ts"] and message["type"] == "message"

    by_name = client.chat_postMessage(channel="inc-1-checkout", text="by name")
    by_hash = client.chat_postMessage(channel="#inc-1-checkout", text="by #name")
    assert by_name["channel"] == by_hash["channel"] == cid
    assert float(first["ts"]) < float(by_name["ts"]) < float(by_hash["ts"])
    assert [m["text"] for m in slack.messages(cid)] == ["INC-1 declared", "by name", "by #name"]
    assert slack.messages("#inc-1-checkout") == slack.messages(cid)


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_chat_post_message_errors(client: WebClient, slack: SlackEmulator) -> None:
    assert (
        error_of(client.chat_postMessage, channel="C404", text="x").response["error"] == "channel_not_found"
    )
    assert (
        error_of(client.chat_postMessage, channel="#nope", text="x").response["error"] == "channel_not_found"
    )
    assert error_of(client.chat_postMessage, channel="general").response["error"] == "no_text"
    assert error_of(client.chat_postMessage, channel="general", text="x" * 40_001).response["error"] == (
        "msg_too_long"
    )
    bad = error_of(client.chat_postMessage, channel="general", text="x", blocks=[{"type": "nonsense"}])
    assert bad.response["error"] == "invalid_blocks"
    bad_format = error_of(client.api_call, "chat.postMessage", data={"channel": "general", "blocks": "[{"})
    assert bad_format.response["error"] == "invalid_blocks_format"
    secret = slack.add_channel("secret", is_private=True, bot_member=False)
    assert error_of(client.chat_postMessage, channel=secret["id"], text="x").response["error"] == (
        "channel_not_found"
    )


def test_not_in_channel_only_without_chat_write_public(client: WebClient) -> None:
    with SlackEmulator(chat_write_public=False) as strict:
        strict.add_channel("team-payments", bot_member=False)
        err = error_of(strict.client().chat_postMessage, channel="team-payments", text="hello")
        assert err.response.data == {"ok": False, "error": "not_in_channel"}
    with SlackEmulator(chat_write_public=True) as lenient:
        lenient.add_channel("team-payments", bot_member=False)
        assert lenient.client().chat_postMessage(channel="team-payments", text="hello")["ok"]


def test_threads_and_direct_messages(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    parent = client.chat_postMessage(channel=cid, text="card")["ts"]
    reply = client.chat_postMessage(channel=cid, text="update", thread_ts=parent)
    assert reply["message"]["thread_ts"] == parent
    assert slack.message(cid, parent)["reply_count"] == 1
    assert [m["text"] for m in slack.messages(cid, include_replies=False)] == ["card"]

    dm = client.chat_postMessage(channel="U0ALICE", text="your action item is due")
    assert dm["channel"].startswith("D")
    assert [m["text"] for m in slack.messages("U0ALICE")] == ["your action item is due"]


def test_chat_update_keeps_history(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    card = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Status:* detected"}}]
    ts = client.chat_postMessage(channel=cid, text="INC-1 detected", blocks=card)["ts"]
    acked = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Status:* acknowledged"}}]
    updated = client.chat_update(channel=cid, ts=ts, text="INC-1 acknowledged", blocks=acked)
    assert updated["channel"] == cid and updated["ts"] == ts and updated["text"] == "INC-1 acknowledged"
    assert updated["message"]["blocks"] == acked and updated["message"]["edited"]["user"] == slack.bot_user_id

    client.chat_update(channel=cid, ts=ts, text="INC-1 mitigated")  # blocks left out: kept
    [message] = slack.messages(cid)
    assert message["ts"] == ts and message["text"] == "INC-1 mitigated" and message["blocks"] == acked
    assert [e["text"] for e in message["edits"]] == ["INC-1 detected", "INC-1 acknowledged"]
    assert message["edits"][0]["blocks"] == card


def test_chat_update_errors(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    assert error_of(client.chat_update, channel=cid, ts="1.000001", text="x").response["error"] == (
        "message_not_found"
    )
    human = slack.post_as("U0ALICE", cid, "I am on it")
    assert error_of(client.chat_update, channel=cid, ts=human["ts"], text="x").response["error"] == (
        "cant_update_message"
    )
    assert error_of(client.chat_update, channel="C404", ts=human["ts"], text="x").response["error"] == (
        "channel_not_found"
    )


def test_chat_post_ephemeral(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    client.conversations_invite(channel=cid, users="U0ALICE")
    sent = client.chat_postEphemeral(channel=cid, user="U0ALICE", text="Only the lead may resolve")
    assert TS.match(sent["message_ts"]) and set(sent.data) == {"ok", "message_ts"}
    assert slack.ephemerals == [
        {
            "channel": cid,
            "user": "U0ALICE",
            "text": "Only the lead may resolve",
            "blocks": None,
            "attachments": None,
            "message_ts": sent["message_ts"],
            "thread_ts": None,
            "via": "chat.postEphemeral",
        }
    ]
    assert slack.messages(cid) == []
    assert error_of(client.chat_postEphemeral, channel=cid, user="U0BOB", text="x").response["error"] == (
        "user_not_in_channel"
    )
    assert error_of(client.chat_postEphemeral, channel=cid, user="U0NOPE", text="x").response["error"] == (
        "user_not_found"
    )


def test_chat_get_permalink(client: WebClient) -> None:
    cid = new_channel(client)
    ts = client.chat_postMessage(channel=cid, text="card")["ts"]
    link = client.chat_getPermalink(channel=cid, message_ts=ts)
    assert link["channel"] == cid
    assert link["permalink"] == f"https://sevflow.slack.com/archives/{cid}/p{ts.replace('.', '')}"
    reply = client.chat_postMessage(channel=cid, text="r", thread_ts=ts)["ts"]
    assert client.chat_getPermalink(channel=cid, message_ts=reply)["permalink"].endswith(
        f"?thread_ts={ts}&cid={cid}"
    )
    assert (
        error_of(client.chat_getPermalink, channel=cid, message_ts="1.2").response["error"]
        == "message_not_found"
    )


# ---------------------------------------------------------------- users.*


def test_users_lookup_by_email_and_info(client: WebClient, slack: SlackEmulator) -> None:
    user = client.users_lookupByEmail(email="Alice@Example.com")["user"]
    assert user["id"] == "U0ALICE" and user["name"] == "alice" and user["real_name"] == "Alice Archer"
    assert user["profile"]["email"] == "alice@example.com" and user["team_id"] == slack.team_id
    assert error_of(client.users_lookupByEmail, email="nobody@example.com").response.data == {
        "ok": False,
        "error": "users_not_found",
    }
    added = slack.add_user(name="erin", email="erin@example.com", real_name="Erin Ek", tz="Europe/Berlin")
    assert client.users_lookupByEmail(email="erin@example.com")["user"]["id"] == added["id"]
    info = client.users_info(user=added["id"])["user"]
    assert info["tz"] == "Europe/Berlin" and info["tz_offset"] in (3600, 7200)
    assert error_of(client.users_info, user="U0NOPE").response["error"] == "user_not_found"


def test_seeded_users_are_configurable() -> None:
    with SlackEmulator(users=[{"id": "W0ONCALL", "name": "oncall", "email": "oncall@corp.test"}]) as slack:
        assert slack.client().users_lookupByEmail(email="oncall@corp.test")["user"]["id"] == "W0ONCALL"
        assert [u["id"] for u in slack.users()] == [slack.bot_user_id, "W0ONCALL"]
        assert slack.channel("general")["members"] == [slack.bot_user_id, "W0ONCALL"]


# ---------------------------------------------------------------- views.*

MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare an incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title"},
        }
    ],
}


def test_views_open_and_update(client: WebClient, slack: SlackEmulator) -> None:
    trigger = slack.mint_trigger_id()
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "declare" and view["hash"]
    assert view["blocks"] == MODAL["blocks"] and view["root_view_id"] == view["id"]
    assert slack.views[view["id"]]["trigger_id"] == trigger
    assert (
        error_of(client.views_open, trigger_id=trigger, view=MODAL).response["error"]
        == "exchanged_trigger_id"
    )

    changed = {**MODAL, "title": {"type": "plain_text", "text": "Post an update"}}
    updated = client.views_update(view_id=view["id"], view=changed, hash=view["hash"])["view"]
    assert updated["id"] == view["id"] and updated["title"]["text"] == "Post an update"
    assert slack.views[view["id"]]["updates"] == 1
    assert error_of(client.views_update, view_id=view["id"], view=changed, hash="1.stale").response[
        "error"
    ] == ("hash_conflict")
    assert error_of(client.views_update, view_id="V404", view=changed).response["error"] == "not_found"


def test_views_open_errors(client: WebClient, slack: SlackEmulator) -> None:
    assert (
        error_of(client.views_open, trigger_id="garbage", view=MODAL).response["error"]
        == "invalid_trigger_id"
    )
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    err = error_of(client.views_open, trigger_id=slack.mint_trigger_id(), view=long_title)
    assert err.response["error"] == "invalid_arguments"
    assert "must be less than 25 characters" in err.response["response_metadata"]["messages"][0]
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    assert error_of(client.views_open, trigger_id=slack.mint_trigger_id(), view=no_submit).response[
        "error"
    ] == ("invalid_arguments")
    as_form = client.api_call(
        "views.open", data={"trigger_id": slack.mint_trigger_id(), "view": json.dumps(MODAL)}
    )
    assert as_form["view"]["type"] == "modal"
    with SlackEmulator(trigger_ttl=0) as strict:
        late = error_of(strict.client().views_open, trigger_id=strict.mint_trigger_id(), view=MODAL)
        assert late.response["error"] == "expired_trigger_id"


# ---------------------------------------------------------------- response_url


def test_response_url_replaces_posts_and_whispers(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    client.conversations_invite(channel=cid, users="U0ALICE")
    card_ts = client.chat_postMessage(channel=cid, text="INC-1 detected")["ts"]

    replace = WebhookClient(slack.response_url(channel=cid, message_ts=card_ts, user="U0ALICE"))
    answer = replace.send(text="INC-1 acknowledged by alice", replace_original=True)
    assert answer.status_code == 200 and json.loads(answer.body) == {"ok": True}
    card = slack.message(cid, card_ts)
    assert card["text"] == "INC-1 acknowledged by alice" and [e["text"] for e in card["edits"]] == [
        "INC-1 detected"
    ]

    command = WebhookClient(slack.response_url(channel=cid, user="U0ALICE"))
    command.send(text="You may not resolve INC-1")  # default: ephemeral
    command.send(text="alice posted an update", response_type="in_channel")
    assert (
        slack.ephemerals[-1]["text"] == "You may not resolve INC-1"
        and slack.ephemerals[-1]["user"] == "U0ALICE"
    )
    assert [m["text"] for m in slack.messages(cid)][-1] == "alice posted an update"

    WebhookClient(slack.response_url(channel=cid, message_ts=card_ts)).send_dict({"delete_original": True})
    assert card_ts not in [m["ts"] for m in slack.messages(cid)]
    assert [r["effect"] for r in slack.responses] == ["replaced", "ephemeral", "posted", "deleted"]
    assert slack.responses[0]["replace_original"] is True and slack.responses[0]["user"] == "U0ALICE"
    assert len(slack.calls("response_url")) == 4


def test_response_url_unbound_and_malformed(slack: SlackEmulator) -> None:
    hook = WebhookClient(f"{slack.url}/response_url/anything")
    assert hook.send(text="hello").status_code == 200
    assert slack.responses[0]["effect"] == "recorded" and slack.responses[0]["text"] == "hello"
    assert hook.send_dict({}).status_code == 400


# ---------------------------------------------------------------- fault injection


def test_429_three_times_then_one_message(client: WebClient, slack: SlackEmulator) -> None:
    slack.fail_next("chat.postMessage", times=3, status=429, retry_after=7)
    for _ in range(3):
        err = error_of(client.chat_postMessage, channel="general", text="card")
        assert err.response.status_code == 429
        assert err.response.headers["Retry-After"] == "7"
        assert err.response.data == {"ok": False, "error": "ratelimited"}
    assert client.chat_postMessage(channel="general", text="card")["ok"]
    assert len(slack.messages("general")) == 1
    assert [c["status"] for c in slack.calls("chat.postMessage")] == [429, 429, 429, 200]
    assert [c["fault"] for c in slack.calls("chat.postMessage")] == [True, True, True, False]


def test_5xx_and_ok_false_faults(client: WebClient, slack: SlackEmulator) -> None:
    slack.fail_next("chat.update", status=500)
    slack.fail_next("chat.update", status=503)
    slack.fail_next("chat.update", status=502)
    slack.fail_next("chat.update", error="channel_not_found")
    ts = client.chat_postMessage(channel="general", text="card")["ts"]
    seen = []
    for _ in range(4):
        err = error_of(client.chat_update, channel="general", ts=ts, text="new")
        seen.append((err.response.status_code, err.response["error"]))
    assert seen[0] == (500, "internal_error") and seen[1] == (503, "service_unavailable")
    assert seen[2][0] == 502 and seen[2][1].startswith("Received a response in a non-JSON format")
    assert seen[3] == (200, "channel_not_found")
    assert slack.message("general", ts)["text"] == "card"  # no fault let the update through
    assert client.chat_update(channel="general", ts=ts, text="new")["ok"]


def test_fault_after_effect_and_wildcard(client: WebClient, slack: SlackEmulator) -> None:
    slack.fail_next("chat.postMessage", status=500, after_effect=True)
    assert (
        error_of(client.chat_postMessage, channel="general", text="lost answer").response.status_code == 500
    )
    assert [m["text"] for m in slack.messages("general")] == ["lost answer"]  # posted all the same
    slack.fail_next("*", times=2, status=503)
    assert error_of(client.auth_test).response.status_code == 503
    assert error_of(client.users_info, user="U0ALICE").response.status_code == 503
    assert client.auth_test()["ok"]


def test_delay_and_client_timeout(slack: SlackEmulator) -> None:
    slack.delay("auth.test", 0.2, times=1)
    started = time.perf_counter()
    assert slack.client().auth_test()["ok"]
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    slack.client().auth_test()
    assert time.perf_counter() - started < 0.2
    slack.delay("chat.postMessage", 0.6)
    impatient = slack.client(timeout=0.2)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        impatient.chat_postMessage(channel="general", text="slow")
    slack.delay("chat.postMessage", 0)
    assert slack.client().chat_postMessage(channel="general", text="fast")["ok"]


def test_fail_ratio_is_seeded_chaos(slack: SlackEmulator) -> None:
    def run(seed: int) -> list[int]:
        slack.reset()
        slack.fail_ratio(0.3, statuses=(429, 500), seed=seed)
        client = slack.client()
        for n in range(60):
            with contextlib.suppress(SlackApiError):
                client.chat_postMessage(channel="general", text=str(n))
        return [c["status"] for c in slack.calls("chat.postMessage")]

    first, again, other = run(7), run(7), run(8)
    assert first == again and first != other
    failures = [s for s in first if s != 200]
    assert 6 <= len(failures) <= 36 and set(failures) <= {429, 500}
    assert len(slack.messages("general")) == other.count(200)  # the last run's
    slack.fail_ratio(0)
    assert slack.client().auth_test()["ok"]


def test_clear_faults(client: WebClient, slack: SlackEmulator) -> None:
    slack.fail_next("auth.test", times=5, status=429)
    slack.delay("auth.test", 5)
    slack.fail_ratio(1.0)
    slack.clear_faults()
    assert client.auth_test()["ok"]


# ---------------------------------------------------------------- inspection, concurrency


def test_calls_log_decoded_params_and_headers(client: WebClient, slack: SlackEmulator) -> None:
    cid = new_channel(client)
    client.conversations_setTopic(channel=cid, topic="SEV2")
    [call] = slack.calls("conversations.setTopic")
    assert call["params"] == {"channel": cid, "topic": "SEV2"}
    assert call["http_method"] == "POST" and call["body_format"] == "form"
    assert call["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert call["status"] == 200 and call["response"]["channel"]["topic"]["value"] == "SEV2"
    assert [c["method"] for c in slack.calls()] == ["conversations.create", "conversations.setTopic"]


def test_concurrent_clients(slack: SlackEmulator) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        client = slack.client()
        try:
            for i in range(10):
                client.chat_postMessage(channel="general", text=f"{n}-{i}")
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    messages = slack.messages("general")
    assert len(messages) == 160 and len({m["ts"] for m in messages}) == 160
    assert len(slack.calls("chat.postMessage")) == 160


def test_wait_until_and_reset(slack: SlackEmulator) -> None:
    def later() -> None:
        time.sleep(0.1)
        slack.client().chat_postMessage(channel="general", text="from a worker")

    threading.Thread(target=later).start()
    found = slack.wait_until(lambda: [m for m in slack.messages("general") if m["text"] == "from a worker"])
    assert found[0]["text"] == "from a worker"
    with pytest.raises(TimeoutError):
        slack.wait_until(lambda: slack.calls("views.open"), timeout=0.1)

    port = slack.port
    slack.add_channel("extra")
    slack.fail_next("auth.test", status=500)
    slack.reset()
    assert slack.port == port and slack.calls() == [] and slack.messages("general") == []
    assert [c["name"] for c in slack.channels()] == ["general"]
    assert slack.client().auth_test()["ok"]

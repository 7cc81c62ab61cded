"""The ntfy publish emulator, reached through the real Apprise library with its ntfy:// and ntfys:// URLs
(as a person's `push` contact method will be), and by raw HTTP where Apprise hides ntfy's answers."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apprise
import pytest

from tests.emulators.ntfy import NtfyEmulator
from tests.emulators.tls import make_loopback_tls

# Apprise loads every plugin on first use; its e-mail plugin imports the standard library's deprecated
# imghdr (a DeprecationWarning on Python 3.11, removed in 3.13), which has nothing to do with ntfy.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture
def ntfy() -> Iterator[NtfyEmulator]:
    with NtfyEmulator() as emulator:
        yield emulator


def send(url: str, body: str, title: str | None = None) -> bool:
    notifier = apprise.Apprise()
    assert notifier.add(url), f"apprise refused {url}"
    return bool(notifier.notify(body=body, title=title or ""))


def post(
    ntfy: NtfyEmulator, path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, Any]:
    request = urllib.request.Request(f"{ntfy.url}{path}", data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def test_apprise_publishes_a_page_with_its_title_priority_tags_click_and_actions(ntfy: NtfyEmulator) -> None:
    ack = "https://sevflow.example/ack/9f2c"
    url = ntfy.apprise_url(
        "oncall-alice",
        priority="max",
        tags="rotating_light,inc-7",
        click=ack,
        actions=f"view, Acknowledge, {ack}, clear=true; http, Escalate, {ack}/escalate, method=PUT",
    )

    assert send(url, "checkout is down: 42% errors", title="INC-7 SEV1 checkout")

    [message] = ntfy.messages("oncall-alice")
    assert message["event"] == "message" and len(message["id"]) == 12
    assert (message["title"], message["message"]) == ("INC-7 SEV1 checkout", "checkout is down: 42% errors")
    assert (message["priority"], sorted(message["tags"]), message["click"]) == (
        5,
        ["inc-7", "rotating_light"],
        ack,
    )
    view, http = message["actions"]
    assert (view["action"], view["label"], view["url"], view["clear"]) == ("view", "Acknowledge", ack, True)
    assert (http["action"], http["url"], http["method"], http["clear"]) == (
        "http",
        f"{ack}/escalate",
        "PUT",
        False,
    )
    assert message["expires"] - message["time"] == 12 * 3600 and message["user"] is None
    [request] = ntfy.requests()
    assert request["path"] == "/" and json.loads(request["body"])["topic"] == "oncall-alice"
    assert request["headers"]["x-priority"] == "max"
    assert request["headers"]["x-tags"] == ",".join(message["tags"])  # Apprise sends them as headers


def test_a_plain_publish_answers_the_json_ntfy_answers(ntfy: NtfyEmulator) -> None:
    status, answer = post(
        ntfy, "/oncall-bob", b"  disk full  \n", {"Title": "INC-8", "Priority": "high", "Tags": "warning, db"}
    )

    assert status == 200
    assert set(answer) == {"id", "time", "expires", "event", "topic", "title", "message", "priority", "tags"}
    assert (answer["topic"], answer["message"], answer["priority"], answer["tags"]) == (
        "oncall-bob",
        "disk full",
        4,
        ["warning", "db"],
    )
    status, answer = post(ntfy, "/oncall-bob?t=From+the+query&p=1", b"quiet")
    assert (answer["title"], answer["priority"]) == ("From the query", 1)
    status, answer = post(ntfy, "/oncall-bob", b"no priority", method="PUT")
    assert "priority" not in answer  # the default is left out, as ntfy leaves it out
    with urllib.request.urlopen(f"{ntfy.url}/oncall-bob/json?poll=1", timeout=5) as response:
        lines = [json.loads(line) for line in response.read().splitlines()]
    assert [m["message"] for m in lines] == ["disk full", "quiet", "no priority"]


@pytest.mark.parametrize(
    ("path", "body", "headers", "code"),
    [
        ("/oncall-bob", b"x", {"Priority": "6"}, 40007),
        ("/bad topic!", b"x", {}, 40009),
        ("/v1", b"x", {}, 40010),
        ("/oncall-bob", b"\xff\xfe", {}, 40011),
        ("/", b"not json", {}, 40017),
        ("/oncall-bob", b"x", {"Actions": "dance, Now"}, 40018),
        ("/oncall-bob", b"x", {"Actions": "view, Open"}, 40018),
        ("/oncall-bob", b"x" * 4097, {}, 41301),
    ],
)
def test_bad_publishes_get_ntfys_error_codes(
    ntfy: NtfyEmulator, path: str, body: bytes, headers: dict[str, str], code: int
) -> None:
    status, answer = post(ntfy, path.replace(" ", "%20"), body, headers)
    assert (answer["code"], answer["http"]) == (code, status) and answer["error"]
    assert ntfy.messages() == []


def test_apprise_reports_a_failed_publish(ntfy: NtfyEmulator, caplog: pytest.LogCaptureFixture) -> None:
    ntfy.fail_next(status=429)
    with caplog.at_level(logging.WARNING, logger="apprise"):
        assert not send(ntfy.apprise_url("oncall-alice"), "page")
    assert "42901" in caplog.text and ntfy.messages() == []
    assert send(ntfy.apprise_url("oncall-alice"), "page")


def test_credentials_basic_and_token() -> None:
    with NtfyEmulator(users={"sevflow": "s3cret"}, tokens=["tk_pager"], anonymous=False) as ntfy:
        topic = f"127.0.0.1:{ntfy.port}/oncall-carol"
        assert not send(f"ntfy://{topic}", "anonymous")
        assert not send(f"ntfy://sevflow:wrong@{topic}", "wrong password")
        assert send(f"ntfy://sevflow:s3cret@{topic}", "basic")
        assert send(f"ntfy://{topic}?token=tk_pager", "token")
        assert [(m["message"], m["user"]) for m in ntfy.messages()] == [
            ("basic", "sevflow"),
            ("token", "token:tk_pag"),
        ]
        assert [r["status"] for r in ntfy.requests()] == [403, 401, 200, 200]


def test_ntfys_over_tls_verifies_the_servers_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = make_loopback_tls(tmp_path)
    with NtfyEmulator(tls=tls) as ntfy:
        assert ntfy.apprise_url("oncall-dave").startswith("ntfys://127.0.0.1:")
        assert not send(ntfy.apprise_url("oncall-dave"), "untrusted")  # the test CA is not trusted yet

        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_cert))
        assert send(ntfy.apprise_url("oncall-dave"), "over TLS", title="INC-9")

        assert [(m["title"], m["message"]) for m in ntfy.messages("oncall-dave")] == [("INC-9", "over TLS")]


def test_a_body_apprise_turns_into_an_attachment_is_recorded_with_its_bytes(ntfy: NtfyEmulator) -> None:
    long_body = "timeline line\n" * 700  # over Apprise's 8,000-byte JSON limit: sent as a file

    assert send(ntfy.apprise_url("oncall-alice"), long_body, title="INC-10")

    [message] = ntfy.messages("oncall-alice")
    assert message["attachment"]["size"] == len(message["content"]) > 8000
    assert message["content"].decode().startswith("INC-10\ntimeline line")
    assert message["message"].startswith("You received a file: ")

"""`sevflow contact ...`, `sevflow page test` and `sevflow oncall --check` as a person runs them: codes
arrive at the emulators, answers are sentences, errors one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from activities.pagers import Pagers
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter import contacts
from starter.cli import app
from tests.contacts.conftest import ALICE_EMAIL, ALICE_PHONE, APPRISE_IMGHDR, code_in, wrong
from tests.emulators.ntfy import NtfyEmulator
from tests.emulators.twilio import TwilioEmulator
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.filterwarnings(APPRISE_IMGHDR)

runner = CliRunner()


@pytest.fixture
def sevflow(
    tmp_path: Path, config_text: str, pagers: Pagers, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    path = tmp_path / "sevflow.yaml"
    path.write_text(config_text)
    for name, value in {
        "SEVFLOW_CONFIG": str(path),
        "SEVFLOW_DATA_DIR": str(tmp_path / "data"),
        "SEVFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'sevflow.db'}",
        "SEVFLOW_PUBLIC_URL": "https://sevflow.example",
        "SEVFLOW_USER": "alice",
    }.items():
        monkeypatch.setenv(name, value)
    # The pagers this process would build from its settings are the emulators'.
    built: list[Settings] = []

    def pagers_for(settings: Settings) -> Pagers:
        built.append(settings)
        return pagers

    monkeypatch.setattr(contacts, "pagers_for", pagers_for)
    # The database as `sevflow up` makes it: the reads (contact list, oncall --check) make none.
    Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}").dispose()
    yield path
    assert all(s.public_url == "https://sevflow.example" for s in built)


def sevflow_cli(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def one_line_error(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_verify_confirm_list_test_page_export_and_forget(
    sevflow: Path, twilio: TwilioEmulator, mail: SmtpServer, tmp_path: Path
) -> None:
    result = sevflow_cli("contact", "verify", "alice", "sms")
    assert result.exit_code == 0, result.output
    assert "sent a code to alice's sms (+49*****456), valid for 10m" in result.stdout
    code = code_in(twilio.messages(to=ALICE_PHONE)[-1]["body"])

    error = one_line_error(sevflow_cli("contact", "confirm", "alice", "sms", wrong(code)))
    assert error == "error: wrong code for alice's sms: 4 tries left"
    result = sevflow_cli("contact", "confirm", "alice", "sms", code)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "alice's sms (+49*****456) is confirmed: it pages alice from now on"

    # The e-mail's link is signed with the key made once in the data dir, under the public URL.
    assert sevflow_cli("contact", "verify", "alice", "email").exit_code == 0
    (message,) = mail.wait_for(1)
    assert "https://sevflow.example/v1/contacts/confirm/" in (message.plain or "")
    assert (tmp_path / "data" / "page-link.key").stat().st_mode & 0o777 == 0o600

    listed = sevflow_cli("contact", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["method"]: row for row in json.loads(listed.stdout)}
    assert (rows["sms"]["status"], rows["email"]["status"], rows["voice"]["status"]) == (
        "confirmed",
        "code sent",
        "not confirmed",
    )
    table = sevflow_cli("contact", "list", "alice").stdout
    assert "+49*****456" in table and ALICE_PHONE not in table and ALICE_EMAIL not in table

    tested = sevflow_cli("page", "test", "alice")
    assert tested.exit_code == 0, tested.output
    assert "sms    +49*****456: sent (check that it arrived)" in tested.stdout
    assert (
        "voice  +49*****456: not confirmed (run `sevflow contact verify alice voice` first)" in tested.stdout
    )
    assert "TEST" in twilio.messages(to=ALICE_PHONE)[-1]["body"]

    exported = sevflow_cli("contact", "export", "alice")
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.stdout)
    assert data["addresses"]["phone"] == ALICE_PHONE and data["addresses"]["email"] == ALICE_EMAIL
    assert [c["method"] for c in data["confirmations"]] == ["sms"]
    assert [c["method"] for c in data["pending_codes"]] == ["email"]

    forgotten = sevflow_cli("contact", "forget", "alice")
    assert forgotten.exit_code == 0, forgotten.output
    assert "sevflow.yaml still holds alice's addresses (people.alice): only an edit there removes them" in (
        forgotten.stdout.replace("\n", " ")
    )
    assert json.loads(sevflow_cli("contact", "export", "alice").stdout)["confirmations"] == []
    # Nothing confirmed any more: a test page sends nothing, and says so with exit code 1.
    assert sevflow_cli("page", "test", "alice").exit_code == 1


def test_refusals_are_one_line(sevflow: Path, twilio: TwilioEmulator) -> None:
    as_bob = runner.invoke(app, ["contact", "verify", "alice", "sms", "--by", "bob"])
    assert one_line_error(as_bob) == (
        "error: only alice or an admin can confirm alice's contact methods; you are bob, and admins are root"
    )
    assert one_line_error(sevflow_cli("contact", "verify", "alice", "fax"), code=2) == (
        "error: unknown contact method 'fax': sms, voice, email or push"
    )
    assert one_line_error(sevflow_cli("contact", "verify", "zed", "sms")).startswith(
        "error: nobody called 'zed' in sevflow.yaml's people"
    )
    assert one_line_error(sevflow_cli("contact", "confirm", "alice", "sms", "12ab56"), code=2) == (
        "error: a code is 6 digits, like 123456, not '12ab56'"
    )
    assert one_line_error(sevflow_cli("contact", "export", "bob")) == (
        "error: only bob or an admin can export bob's contact data; you are alice, and admins are root"
    )
    untested = sevflow_cli("page", "test", "bob", "--by", "bob")
    assert untested.exit_code == 1
    assert untested.stdout.strip() == (
        "email  b***@example.com: not confirmed (run `sevflow contact verify bob email` first)"
    )
    assert twilio.messages() == []
    # An admin may act for anyone.
    assert runner.invoke(app, ["contact", "verify", "alice", "sms", "--by", "root"]).exit_code == 0


def test_oncall_check_names_who_cannot_be_woken_and_what_to_run(
    sevflow: Path, twilio: TwilioEmulator, ntfy: NtfyEmulator
) -> None:
    result = sevflow_cli("oncall", "--check", "--at", "2026-03-20T12:00:00Z")
    assert result.exit_code == 1, result.output
    assert result.stdout.strip().splitlines() == [
        "alice is on call from 2026-03-20 12:00 UTC (escalation policy web, level 1) with no confirmed "
        "high-urgency contact method: run `sevflow contact verify alice sms`",
        # A Slack DM wakes nobody at 3 a.m. (and not at all while Slack is down).
        "bob is on call from 2026-03-20 12:00 UTC (escalation policy web, level 1) with only Slack DMs "
        "to wake them: add an sms or voice rule (and a phone) to people.bob.notify in sevflow.yaml, then "
        "run `sevflow contact verify bob sms`",
    ]
    as_json = json.loads(sevflow_cli("oncall", "--check", "--json", "--at", "2026-03-20T12:00:00Z").stdout)
    assert as_json["contact_gaps"] == [
        {
            "person": "alice",
            "first_on_call": "2026-03-20T12:00:00Z",
            "reached_by": "escalation policy web, level 1",
            "method": "sms",
            "run": "sevflow contact verify alice sms",
        },
        {
            "person": "bob",
            "first_on_call": "2026-03-20T12:00:00Z",
            "reached_by": "escalation policy web, level 1",
            "method": "slack_dm",
            "run": "sevflow contact verify bob sms",
        },
    ]
    # Confirming a later rule of her high-urgency list is as good: push wakes her too.
    assert sevflow_cli("contact", "verify", "alice", "push").exit_code == 0
    (push,) = ntfy.messages("alice-pager")
    assert sevflow_cli("contact", "confirm", "alice", "push", code_in(push["title"])).exit_code == 0
    result = sevflow_cli("oncall", "--check", "--at", "2026-03-20T12:00:00Z")
    assert result.exit_code == 1, result.output  # bob still has only Slack DMs
    assert [line.split()[0] for line in result.stdout.strip().splitlines()] == ["bob"]

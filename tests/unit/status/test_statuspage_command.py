"""`/incident statuspage` parsing and the command model behind every surface."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sevflow.incident.commands import PublishPublicUpdate
from sevflow.slack.commands import help_for, help_text, parse_command
from sevflow.slack.intents import CommandError, StatusPageIntent, to_command


def test_statuspage_in_an_incident_channel_and_by_number() -> None:
    assert parse_command('statuspage "We are investigating"', default_number=7) == StatusPageIntent(
        number=7, text="We are investigating"
    )
    assert parse_command("statuspage INC-3 Errors are falling", default_number=7) == StatusPageIntent(
        number=3, text="Errors are falling"
    )
    # A bare number starts the text inside an incident's channel, like `update`.
    assert parse_command("statuspage 3 regions affected", default_number=7) == StatusPageIntent(
        number=7, text="3 regions affected"
    )
    assert parse_command("public 4 x") == StatusPageIntent(number=4, text="x")
    # Slack's escapes are read back; the page escapes them again when it shows them.
    assert parse_command("statuspage &lt;b&gt; &amp;", default_number=1) == StatusPageIntent(
        number=1, text="<b> &"
    )


def test_statuspage_needs_text_and_an_incident() -> None:
    with pytest.raises(CommandError) as caught:
        parse_command("statuspage", default_number=7)
    assert "what should customers read?" in caught.value.message
    assert caught.value.usage == '/incident statuspage [INC-n] "text"'
    with pytest.raises(CommandError) as caught:
        parse_command('statuspage "text"')
    assert "which incident?" in caught.value.message
    with pytest.raises(CommandError):
        parse_command("statuspage INC-1 " + "x" * 4001)


def test_statuspage_is_in_the_help_and_maps_to_the_command() -> None:
    assert "/incident statuspage" in help_text()
    assert help_for("status-page").startswith("/incident statuspage")
    command = to_command(StatusPageIntent(number=1, text="hi"), by="U0ALICE")
    assert command == PublishPublicUpdate(by="U0ALICE", text="hi")


def test_publish_public_update_checks_its_fields() -> None:
    assert PublishPublicUpdate(by="a", text="  hi  ").text == "hi"
    with pytest.raises(ValidationError):
        PublishPublicUpdate(by="a", text="   ")
    with pytest.raises(ValidationError):
        PublishPublicUpdate(by="a", text="x", status="resolved")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PublishPublicUpdate(by="a", text="x", title=" ")
    assert PublishPublicUpdate(by="a", text="x", status="identified").status == "identified"

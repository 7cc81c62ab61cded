"""`/incident link repeat-of INC-n` end to end (issue 15): signed slash commands into the app, the dev
server and a worker with the Slack chat backend; the answers are ephemeral sentences."""

from __future__ import annotations

from sevflow.incident.models import EventKind
from tests.api.test_slack_e2e import stack  # noqa: F401 (the fixture)
from tests.support.slack import SlackStack


async def test_a_slash_command_links_a_repeat_and_refusals_are_sentences(stack: SlackStack) -> None:  # noqa: F811
    for title in ("checkout 5xx", "checkout 5xx again"):
        body = {"title": title, "service": "checkout", "severity": "SEV3", "lead": "U0ALICE"}
        assert (await stack.http.post("/v1/incidents", json=body)).status_code == 201
    channel = "C0SOMEWHERE"  # not an incident's channel: the incident is named

    async def answer(text: str, user: str = "U0ALICE") -> str:
        response = await stack.command(text, user, channel)
        assert response.status_code == 200, response.text
        reply = response.json()
        assert reply["response_type"] == "ephemeral"
        return str(reply["text"])

    assert await answer("link INC-2 repeat-of INC-1") == "INC-2 is marked as a repeat of INC-1."
    stored = stack.store.get_incident(2)
    assert stored is not None and stored.repeat_of == 1
    lines = [e for e in stack.store.timeline(2) if e.kind is EventKind.REPEAT_LINKED]
    assert [e.text for e in lines] == ["INC-2 marked as a repeat of INC-1 by slack:U0ALICE"]

    assert "only the lead, comms or an admin can mark INC-2 as a repeat" in await answer(
        "link INC-2 repeat-of none", user="U0BOB"
    )
    assert await answer("link INC-2 repeat-of INC-2") == "INC-2 cannot be a repeat of itself"
    assert await answer("link INC-2 repeat-of INC-77") == "INC-77 does not exist"
    assert (await answer("link INC-2 repeat-of INC-0")).startswith(
        "'INC-0' is not an incident number: numbers start at INC-1"
    )
    assert await answer("link INC-2 repeat-of none") == "INC-2 is no longer marked as a repeat."
    assert stack.store.get_incident(2).repeat_of is None  # type: ignore[union-attr]

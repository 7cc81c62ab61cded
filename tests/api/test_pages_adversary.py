"""Pages that come back, attacked (issue 16's adversaries): what the first round of tests left open.

- identity: a number two people share (an on-call phone handed round, a couple's landline) answers
  for whichever of them the code or the page was for, never for the first of them in sevflow.yaml.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sevflow.config.loader import parse_config
from sevflow.incident.models import IncidentState
from sevflow.paging.contacts import address_digest
from sevflow.paging.links import AckLink, ack_token
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from starter.api import create_app
from tests.api.test_pages_api import (
    IN_PROCESS,
    SECRET,
    page,
    post_signed,
    reply_of,
    settings_for,
    text_form,
)
from tests.emulators.twilio import DEFAULT_ACCOUNT_SID

SHARED = "+14155550177"
# alice and carol share the team's on-call phone; alice comes first in the file.
CONFIG = f"""
people:
  alice: {{slack_id: U0ALICE, email: alice@example.com, phone: "{SHARED}", timezone: Europe/Berlin}}
  carol: {{slack_id: U0CAROL, email: carol@example.com, phone: "+1 415 555 0177", timezone: Europe/Berlin}}
"""


@pytest.fixture
async def api(
    tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")  # Temporal unreachable: codes need none
    app = create_app(settings_for(tmp_path), store=sqlite_store, config=parse_config(CONFIG), environ={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=IN_PROCESS) as client:
        yield client


def send_code(store: Store, person: str, code: str, minutes: int = 10) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=minutes)
    store.start_challenge(person, "sms", address_digest("sms", SHARED), code, expires)


async def test_a_code_from_a_shared_number_confirms_the_person_it_was_sent_to(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    send_code(sqlite_store, "carol", "482913")

    answer = await post_signed(api, "/v1/pages/sms", text_form(SHARED, "482913", "SM" + "a1" * 16))

    assert reply_of(answer) == "carol's sms (+14******177) is confirmed: it pages carol from now on."
    [confirmed] = sqlite_store.verifications()
    assert (confirmed.person, confirmed.method, confirmed.via) == ("carol", "sms", "reply")


async def test_with_both_codes_pending_each_reply_confirms_its_own_and_spends_no_others_try(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    send_code(sqlite_store, "alice", "111222")
    send_code(sqlite_store, "carol", "333444")

    carols = await post_signed(api, "/v1/pages/sms", text_form(SHARED, "333 444", "SM" + "a2" * 16))
    wrong = await post_signed(api, "/v1/pages/sms", text_form(SHARED, "999999", "SM" + "a3" * 16))
    alices = await post_signed(api, "/v1/pages/sms", text_form(SHARED, "111222", "SM" + "a4" * 16))

    assert reply_of(carols) == "carol's sms (+14******177) is confirmed: it pages carol from now on."
    # A code that is nobody's counts against the code that went last (alice's: carol's is used).
    assert reply_of(wrong) == "wrong code for alice's sms: 4 tries left."
    assert reply_of(alices) == "alice's sms (+14******177) is confirmed: it pages alice from now on."
    assert sorted(v.person for v in sqlite_store.verifications()) == ["alice", "carol"]


async def test_an_expired_code_of_one_does_not_shadow_the_live_code_of_the_other(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    send_code(sqlite_store, "carol", "555666", minutes=-1)
    send_code(sqlite_store, "alice", "777888")

    answer = await post_signed(api, "/v1/pages/sms", text_form(SHARED, "555666", "SM" + "a5" * 16))

    assert reply_of(answer) == "wrong code for alice's sms: 4 tries left."
    assert sqlite_store.verifications() == []


async def test_a_2_on_a_call_of_a_round_the_ladder_left_is_refused_and_signals_nothing(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    escalation = "incident-raised/escalation-1"
    number = sqlite_store.register_incident(
        IncidentState(
            workflow_id="incident-raised",
            title="checkout returns 5xx",
            service="checkout",
            severity=Severity.SEV1,
            roles={},
            policies=DEFAULT_POLICIES,
            detected_at=datetime.now(UTC),
            escalation_id=escalation,
            escalation_active=True,
        )
    )
    # Round 1 called alice; the severity was raised and round 2 texted her, from level 1 again.
    called = page(number, via="voice").model_copy(
        update={"key": f"{escalation}/r1/o0/l0/alice/voice", "escalation_id": escalation}
    )
    texted = page(number).model_copy(
        update={"key": f"{escalation}/r2/o0/l0/alice/sms", "escalation_id": escalation}
    )
    sqlite_store.record_page(called)
    sqlite_store.record_page(texted)
    token = ack_token(SECRET, AckLink(called.key, number, "alice", datetime.now(UTC) + timedelta(minutes=5)))

    keys = {"AccountSid": DEFAULT_ACCOUNT_SID, "CallSid": "CA" + "e1" * 16, "Digits": "2"}
    pressed = await post_signed(api, f"/v1/pages/voice/{token}", keys)

    # Temporal is unreachable here: an answer that signalled would say sevflow is unavailable.
    assert pressed.status_code == 200, pressed.text
    assert (
        f"<Say>INC-{number} pages again from level 1 since its severity changed: "
        "this page's level is over, nothing to escalate. Goodbye.</Say>"
    ) in pressed.text

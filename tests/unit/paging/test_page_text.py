"""What a page says by text, call, email and push, and its acknowledge link (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.paging.links import AckLink, InvalidLink, ack_token, ack_url, read_ack_token
from sevflow.paging.messages import SMS_MAX, page_text
from sevflow.paging.models import PageTarget, SendPage
from sevflow.policy import Severity

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def page(title: str = "checkout returns 5xx", drill: bool = False) -> SendPage:
    return SendPage(
        key="esc-1/r0/o0/l0/alice/sms",
        escalation_id="esc-1",
        incident_number=42,
        title=title,
        service="checkout",
        severity=Severity.SEV1,
        drill=drill,
        target=PageTarget(target="rotation:web/primary", person="alice"),
        via="sms",
        level=0,
        loop=0,
        due_at=NOW,
        wait=timedelta(minutes=10),
    )


@given(st.text(min_size=1, max_size=2000))
def test_a_text_fits_two_segments_and_always_says_how_to_answer(title: str) -> None:
    sms = page_text(page(title), None).sms
    assert len(sms) <= SMS_MAX
    assert sms.startswith("INC-42 SEV1 (critical) checkout: ")
    assert sms.endswith("Reply 1 or ACK to acknowledge, 2 or ESC to escalate now.")


def test_every_form_names_the_incident_and_how_to_answer() -> None:
    text = page_text(page("db <primary> & replica", drill=True), "https://sevflow.example.com/v1/pages/ack/t")
    assert "Press 1 to acknowledge. Press 2 to escalate now." in text.speech
    assert text.subject == "[sevflow] [DRILL] INC-42 SEV1 (critical) checkout: db <primary> & replica"
    assert "Acknowledge: https://sevflow.example.com/v1/pages/ack/t" in text.email_text
    assert "db &lt;primary&gt; &amp; replica" in text.email_html  # escaped, never markup
    assert 'href="https://sevflow.example.com/v1/pages/ack/t"' in text.email_html
    assert text.push_title == "[DRILL] INC-42 SEV1 (critical) checkout"


def test_an_acknowledge_link_names_its_page_until_it_expires() -> None:
    link = AckLink("esc-1/r0/o0/l0/alice/email", 42, "alice", NOW + timedelta(minutes=10))
    token = ack_token("secret", link)
    assert read_ack_token("secret", token, NOW) == link
    assert ack_url("https://sevflow.example.com/", token).startswith(
        "https://sevflow.example.com/v1/pages/ack/"
    )
    with pytest.raises(InvalidLink, match="expired at 2026-12-06 03:10 UTC"):
        read_ack_token("secret", token, NOW + timedelta(minutes=10))
    with pytest.raises(InvalidLink, match="not valid"):
        read_ack_token("another secret", token, NOW)
    with pytest.raises(InvalidLink, match="not valid"):
        read_ack_token("secret", token[:-2] + ("AA" if not token.endswith("AA") else "BB"), NOW)
    with pytest.raises(InvalidLink, match="not valid"):
        read_ack_token("secret", "garbage", NOW)

"""Slack request signatures: the signed fixtures verify with the clock pinned to their timestamp; a
changed byte, a wrong secret, a stale or future timestamp and missing or malformed headers do not."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevflow.slack.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidSlackSignature,
    slack_signature,
    verify_slack_request,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slack"
NAMES = ["slack_slash_command", "slack_block_actions"]
FIXTURE_TIME = 1795431600


def load(name: str) -> tuple[bytes, dict[str, str], str]:
    body = (FIXTURES / f"{name}.body.txt").read_bytes()
    headers = json.loads((FIXTURES / f"{name}.headers.json").read_text())
    return body, headers, headers["_test_signing_secret"]


def verify(
    name: str, *, body: bytes | None = None, secret: str | None = None, now: float = FIXTURE_TIME
) -> None:
    raw, headers, fixture_secret = load(name)
    verify_slack_request(
        fixture_secret if secret is None else secret,
        raw if body is None else body,
        headers[TIMESTAMP_HEADER],
        headers[SIGNATURE_HEADER],
        now=now,
    )


@pytest.mark.parametrize("name", NAMES)
def test_fixture_verifies_at_its_timestamp(name: str) -> None:
    _, headers, _ = load(name)
    assert headers[TIMESTAMP_HEADER] == str(FIXTURE_TIME)
    verify(name)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_signature_is_reproduced(name: str) -> None:
    body, headers, secret = load(name)
    assert slack_signature(secret, headers[TIMESTAMP_HEADER], body) == headers[SIGNATURE_HEADER]


@pytest.mark.parametrize("name", NAMES)
def test_body_is_the_documented_form(name: str) -> None:
    body, _, _ = load(name)
    decoded = json.loads((FIXTURES / f"{name}.decoded.json").read_text())
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    if "payload" in fields:
        assert json.loads(fields["payload"]) == decoded
    else:
        assert fields == decoded


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("age", [0, 1, 299, 300, -300])
def test_within_five_minutes_is_accepted(name: str, age: int) -> None:
    verify(name, now=FIXTURE_TIME + age)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("age", [301, 3600, -301, -86400])
def test_outside_five_minutes_is_refused(name: str, age: int) -> None:
    with pytest.raises(InvalidSlackSignature, match="limit 300 s"):
        verify(name, now=FIXTURE_TIME + age)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("where", [0, 10, -1, "middle"])
def test_changed_byte_is_refused(name: str, where: int | str) -> None:
    body, _, _ = load(name)
    index = len(body) // 2 if where == "middle" else int(where)
    changed = bytearray(body)
    changed[index] ^= 0x01
    with pytest.raises(InvalidSlackSignature, match="does not match"):
        verify(name, body=bytes(changed))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_refused(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(NAMES))
    body, _, _ = load(name)
    index = data.draw(st.integers(0, len(body) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    changed = body[:index] + bytes([value]) + body[index + 1 :]
    with pytest.raises(InvalidSlackSignature):
        verify(name, body=changed)


@pytest.mark.parametrize("name", NAMES)
def test_appended_or_truncated_body_is_refused(name: str) -> None:
    body, _, _ = load(name)
    for changed in (body + b"&x=1", body[:-1], b""):
        with pytest.raises(InvalidSlackSignature):
            verify(name, body=changed)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "secret", ["wrong-secret", "test-signing-secret-000000000000", "_test_signing_secret"]
)
def test_wrong_secret_is_refused(name: str, secret: str) -> None:
    with pytest.raises(InvalidSlackSignature, match="does not match"):
        verify(name, secret=secret)


def test_no_secret_configured_is_refused() -> None:
    with pytest.raises(InvalidSlackSignature, match="no Slack signing secret"):
        verify("slack_slash_command", secret="")


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (None, "v0=" + "0" * 64, "missing X-Slack-Request-Timestamp"),
        ("", "v0=" + "0" * 64, "missing X-Slack-Request-Timestamp"),
        ("1795431600", None, "missing X-Slack-Signature"),
        ("1795431600", "  ", "missing X-Slack-Signature"),
        ("abc", "v0=" + "0" * 64, "not a number"),
        ("1795431600.5", "v0=" + "0" * 64, "not a number"),
        ("-1795431600", "v0=" + "0" * 64, "not a number"),
        ("1e9", "v0=" + "0" * 64, "not a number"),
        ("\uff11\uff17\uff19\uff15", "v0=" + "0" * 64, "not a number"),  # full-width digits
        ("99999999999999999999", "v0=" + "0" * 64, "not a number"),
        ("1795431600", "v1=" + "0" * 64, "not a v0 signature"),
        ("1795431600", "v0=xyz", "not a v0 signature"),
        ("1795431600", "0" * 64, "not a v0 signature"),
    ],
)
def test_bad_headers_are_refused(timestamp: str | None, signature: str | None, reason: str) -> None:
    body, _, secret = load("slack_slash_command")
    with pytest.raises(InvalidSlackSignature, match=reason) as caught:
        verify_slack_request(secret, body, timestamp, signature, now=FIXTURE_TIME)
    assert caught.value.reason == str(caught.value)


def test_secret_may_be_bytes() -> None:
    body, headers, secret = load("slack_block_actions")
    verify_slack_request(
        secret.encode(), body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=FIXTURE_TIME
    )


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (
            "\u0661\u0667\u0669\u0665",
            "v0=" + "0" * 64,
            "not a number",
        ),  # Arabic-Indic digits: int() takes them
        ("1_795_431_600", "v0=" + "0" * 64, "not a number"),  # so does int(), with underscores
        ("1795431600", "v0=" + "\u00e9" * 64, "not a v0 signature"),  # compare_digest raises on non-ASCII str
        ("1795431600", "v0=" + "A" * 64, "not a v0 signature"),  # Slack's hex is lower case
        ("1795431600", "v0=" + "0" * 65, "not a v0 signature"),
    ],
)
def test_headers_the_verifier_would_choke_on_are_refused_first(
    timestamp: str, signature: str, reason: str
) -> None:
    body, _, secret = load("slack_slash_command")
    with pytest.raises(InvalidSlackSignature, match=reason):
        verify_slack_request(secret, body, timestamp, signature, now=FIXTURE_TIME)


def test_a_body_that_is_not_utf8_is_refused_even_when_signed() -> None:
    """slack_sdk decodes the body as UTF-8 before hashing it; Slack's bodies always are."""
    _, _, secret = load("slack_slash_command")
    body = b"text=\xff\xfe"
    stamp = str(FIXTURE_TIME)
    signed = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    with pytest.raises(InvalidSlackSignature, match="not UTF-8"):
        verify_slack_request(secret, body, stamp, signed, now=FIXTURE_TIME)


@pytest.mark.parametrize("secret", ["", "   ", b""])
def test_a_blank_secret_is_no_secret(secret: str | bytes) -> None:
    body, headers, _ = load("slack_slash_command")
    with pytest.raises(InvalidSlackSignature, match="no Slack signing secret"):
        verify_slack_request(
            secret, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], now=FIXTURE_TIME
        )


@settings(max_examples=300, deadline=None)
@given(
    timestamp=st.none() | st.text(max_size=30) | st.integers(-(10**15), 10**15).map(str),
    signature=st.none()
    | st.text(max_size=80)
    | st.from_regex(r"v0=[0-9a-fA-F\u00e9]{60,68}", fullmatch=True),
    body=st.binary(max_size=200),
)
def test_any_headers_and_body_are_a_refusal_never_an_error(
    timestamp: str | None, signature: str | None, body: bytes
) -> None:
    _, _, secret = load("slack_slash_command")
    with pytest.raises(InvalidSlackSignature):
        verify_slack_request(secret, body, timestamp, signature, now=FIXTURE_TIME)

"""Per-source tokens and Grafana's HMAC signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest

from sevflow.alerts.auth import (
    GRAFANA_SIGNATURE_HEADERS,
    MissingSecret,
    SourceCredentials,
    check_token,
    credentials_for,
    default_token_env,
    find_header,
    grafana_signature,
    load_credentials,
    open_sources,
    verify_grafana_request,
    verify_grafana_signature,
)
from sevflow.alerts.models import AlertSource
from sevflow.config import SevflowConfig, parse_config
from sevflow.errors import ConfigError

BODY = (
    Path(__file__).resolve().parents[2] / "fixtures" / "alerts" / "grafana_webhook_firing.json"
).read_bytes()
SECRET = "grafana-hmac-secret"
STAMP = "1795431600"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- tokens ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "query", "ok"),
    [
        ("Bearer s3cret", None, True),
        ("bearer   s3cret  ", None, True),
        ("Bearer wrong", None, False),
        ("Bearer ", None, False),
        ("s3cret", None, False),  # no scheme
        ("Token s3cret", None, False),
        (None, "s3cret", True),
        (None, "wrong", False),
        ("Bearer wrong", "s3cret", True),
        (None, None, False),
        ("", "", False),
        (basic("alertmanager", "s3cret"), None, True),
        (basic("", "s3cret"), None, True),
        (basic("s3cret", "x"), None, False),
        ("Basic !!!not-base64", None, False),
        ("Bearer s3crét", None, False),  # non-ASCII does not crash compare_digest
    ],
)
def test_check_token(authorization: str | None, query: str | None, ok: bool) -> None:
    assert check_token("s3cret", authorization, query) is ok


def test_no_expected_token_means_open() -> None:
    assert check_token(None, None, None)
    assert check_token(None, "Bearer anything", "x")


def test_tokens_come_from_config_then_the_default_variable() -> None:
    config = parse_config("sources:\n  alertmanager: {token_env: AM_TOKEN}\n")
    env = {
        "AM_TOKEN": "from-config",
        "SEVFLOW_ALERT_TOKEN_ALERTMANAGER": "ignored",
        "SEVFLOW_ALERT_TOKEN_DATADOG": "dd",
    }
    assert credentials_for("alertmanager", config, env).token == "from-config"
    assert credentials_for(AlertSource.DATADOG, config, env).token == "dd"
    assert credentials_for("generic", config, env).token is None
    assert default_token_env("pagerduty") == "SEVFLOW_ALERT_TOKEN_PAGERDUTY"


def test_a_named_variable_that_is_not_set_is_an_error_not_an_open_door() -> None:
    config = parse_config("sources:\n  grafana: {token_env: GF_TOKEN, hmac_secret_env: GF_SECRET}\n")
    with pytest.raises(MissingSecret) as caught:
        credentials_for("grafana", config, {"GF_TOKEN": "t"})
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value) == (
        "sources.grafana.hmac_secret_env names the environment variable GF_SECRET, "
        "which is not set (or empty)"
    )
    with pytest.raises(MissingSecret, match=r"sources\.grafana\.token_env names .* GF_TOKEN"):
        credentials_for("grafana", config, {"GF_TOKEN": "", "GF_SECRET": "s"})


def test_grafana_credentials() -> None:
    plain = credentials_for("grafana", SevflowConfig(), {"SEVFLOW_GRAFANA_SECRET": SECRET})
    assert plain.hmac_secret == SECRET and plain.token is None and not plain.is_open
    assert plain.signature_headers == GRAFANA_SIGNATURE_HEADERS
    assert plain.max_age == timedelta(minutes=5)
    config = parse_config(
        "sources:\n  grafana:\n    signature_header: X-Sig\n    timestamp_header: X-Ts\n    max_age: off\n"
    )
    custom = credentials_for("grafana", config, {})
    assert (custom.signature_headers, custom.timestamp_header, custom.max_age, custom.is_open) == (
        ("X-Sig",),
        "X-Ts",
        None,
        True,
    )


def test_open_sources_and_secrets_stay_out_of_repr() -> None:
    creds = load_credentials(SevflowConfig(), {"SEVFLOW_ALERT_TOKEN_ALERTMANAGER": "very-secret-token"})
    assert set(creds) == set(AlertSource)
    assert open_sources(creds) == [s for s in AlertSource if s is not AlertSource.ALERTMANAGER]
    assert "very-secret-token" not in repr(creds)
    assert "very-secret-token" not in str(creds[AlertSource.ALERTMANAGER])


# --- Grafana signatures ----------------------------------------------------------------------------


def test_signature_without_timestamp_is_over_the_body() -> None:
    signature = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert grafana_signature(SECRET, BODY) == signature
    assert verify_grafana_signature(SECRET, BODY, signature, None)
    assert verify_grafana_signature(SECRET, BODY, signature.upper(), None)
    assert not verify_grafana_signature(SECRET, BODY + b" ", signature, None)
    assert not verify_grafana_signature("other", BODY, signature, None)
    assert not verify_grafana_signature(SECRET, BODY, signature, STAMP)  # a timestamp changes the message


def test_signature_with_timestamp_is_over_timestamp_colon_body() -> None:
    signature = hmac.new(SECRET.encode(), f"{STAMP}:".encode() + BODY, hashlib.sha256).hexdigest()
    assert grafana_signature(SECRET, BODY, STAMP) == signature
    assert verify_grafana_signature(SECRET, BODY, signature, STAMP)
    assert not verify_grafana_signature(SECRET, BODY, signature, None)
    assert not verify_grafana_signature(SECRET, BODY, signature, "1795431601")


def test_signed_timestamp_must_be_recent_when_a_clock_is_given() -> None:
    signature = grafana_signature(SECRET, BODY, STAMP)
    now = float(STAMP)
    assert verify_grafana_signature(SECRET, BODY, signature, STAMP, now=now + 299)
    assert verify_grafana_signature(SECRET, BODY, signature, STAMP, now=now - 299)
    assert not verify_grafana_signature(SECRET, BODY, signature, STAMP, now=now + 301)
    assert verify_grafana_signature(SECRET, BODY, signature, STAMP, now=now + 10_000, max_age=None)
    bad_stamp_signature = grafana_signature(SECRET, BODY, "soon")
    assert not verify_grafana_signature(SECRET, BODY, bad_stamp_signature, "soon", now=now)


@pytest.mark.parametrize("signature", [None, "", "zz", "0" * 64])
def test_missing_or_wrong_signature(signature: str | None) -> None:
    assert not verify_grafana_signature(SECRET, BODY, signature, None)


def test_no_secret_means_no_signature_needed() -> None:
    assert verify_grafana_signature(None, BODY, None, None)


def test_verify_grafana_request_reads_the_headers() -> None:
    creds = SourceCredentials(source=AlertSource.GRAFANA, hmac_secret=SECRET)
    signature = grafana_signature(SECRET, BODY, STAMP)
    headers = {"x-grafana-alerting-signature": signature, "X-GRAFANA-ALERT-TIMESTAMP": STAMP}
    assert find_header(headers, GRAFANA_SIGNATURE_HEADERS) == signature
    assert verify_grafana_request(creds, BODY, headers, now=float(STAMP))
    assert not verify_grafana_request(creds, BODY, headers, now=float(STAMP) + 3600)
    assert not verify_grafana_request(creds, BODY, {"X-Grafana-Alert-Timestamp": STAMP})
    unsigned = json.dumps({"a": 1}).encode()
    assert not verify_grafana_request(creds, unsigned, headers)

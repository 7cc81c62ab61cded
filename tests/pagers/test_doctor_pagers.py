"""`sevflow doctor` names each notify method sevflow.yaml's people use whose provider the settings do
not configure, who uses it and the setting to add; it agrees with what the worker builds
(worker.main.pagers_from) for every combination of Twilio and SMTP settings."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sevflow.config.loader import parse_config
from sevflow.errors import ConfigError
from sevflow.settings import Settings
from tests.emulators.twilio import DEFAULT_MESSAGING_SERVICE_SID, DEFAULT_NUMBER
from worker import doctor
from worker.doctor import pager_gaps, run_doctor
from worker.main import pagers_from

CONFIG = """
people:
  alice:
    {slack_id: U0ALICE, email: alice@example.com, phone: "+14155550101", timezone: UTC,
     notify: [{via: sms}, {via: voice, after: 2m}]}
  bob:
    {slack_id: U0BOB, email: bob@example.com, phone: "+14155550102", timezone: UTC,
     notify: {high: [{via: slack_dm}], low: [{via: email}, {via: sms, after: 5m}]}}
  carol:
    {slack_id: U0CAROL, email: carol@example.com, timezone: UTC,
     push: "ntfys://ntfy.example.com/carol", notify: [{via: push}]}
  dave: {slack_id: U0DAVE, email: dave@example.com, timezone: UTC}
"""
TWILIO_NEEDS = (
    "SEVFLOW_TWILIO_ACCOUNT_SID, SEVFLOW_TWILIO_AUTH_TOKEN (or SEVFLOW_TWILIO_API_KEY and "
    "SEVFLOW_TWILIO_API_SECRET) and SEVFLOW_TWILIO_FROM"
)
SMTP_URL = "smtp://pager:secret@mail.example.com:587?starttls=true"


def test_without_pager_settings_each_method_people_use_is_named_with_its_people_and_settings() -> None:
    assert pager_gaps(Settings(), parse_config(CONFIG)) == [
        f"sms: the texts to alice and bob cannot go out: set {TWILIO_NEEDS}",
        f"voice: the calls to alice cannot go out: set {TWILIO_NEEDS}",
        "email: the e-mails to bob cannot go out: set SEVFLOW_SMTP_URL and SEVFLOW_SMTP_FROM",
    ]


def test_only_the_missing_settings_are_named() -> None:
    settings = Settings(twilio_account_sid="AC1", twilio_api_key="SK1", smtp_from="pager@example.com")
    assert pager_gaps(settings, parse_config(CONFIG)) == [
        "sms: the texts to alice and bob cannot go out: set SEVFLOW_TWILIO_API_SECRET (or "
        "SEVFLOW_TWILIO_AUTH_TOKEN) and SEVFLOW_TWILIO_FROM",
        "voice: the calls to alice cannot go out: set SEVFLOW_TWILIO_API_SECRET (or "
        "SEVFLOW_TWILIO_AUTH_TOKEN) and SEVFLOW_TWILIO_FROM",
        "email: the e-mails to bob cannot go out: set SEVFLOW_SMTP_URL",
    ]


def test_a_messaging_service_cannot_call_and_an_api_key_alone_cannot_check_answers() -> None:
    settings = Settings(
        twilio_account_sid="AC1",
        twilio_api_key="SK1",
        twilio_api_secret=SecretStr("s"),
        twilio_from=DEFAULT_MESSAGING_SERVICE_SID,
        smtp_url=SecretStr("http://mail.example.com"),
        smtp_from="pager@example.com",
    )
    assert pager_gaps(settings, parse_config(CONFIG)) == [
        "voice: the calls to alice cannot go out: SEVFLOW_TWILIO_FROM is a Messaging Service, which "
        "sends texts only: set it to a phone number of the account (E.164)",
        "sms, voice: the answers of alice and bob (a reply or a key: 1 acknowledges, 2 escalates) are "
        "refused: set SEVFLOW_TWILIO_AUTH_TOKEN, which Twilio signs its webhooks with",
        "email: the e-mails to bob cannot go out: SEVFLOW_SMTP_URL must start with smtp:// or smtps:// "
        "(like smtp://user:pass@host:587)",
    ]


def test_everything_configured_or_nobody_paged_that_way_is_no_gap() -> None:
    full = Settings(
        twilio_account_sid="AC1",
        twilio_auth_token=SecretStr("t"),
        twilio_from=DEFAULT_NUMBER,
        smtp_url=SecretStr(SMTP_URL),
        smtp_from="pager@example.com",
    )
    assert pager_gaps(full, parse_config(CONFIG)) == []
    only_dms = parse_config("people: {dave: {slack_id: U0DAVE, email: d@example.com, timezone: UTC}}")
    assert pager_gaps(Settings(), only_dms) == []


def test_half_a_provider_nobody_uses_is_named_because_the_worker_refuses_to_start() -> None:
    only_dms = parse_config("people: {dave: {slack_id: U0DAVE, email: d@example.com, timezone: UTC}}")
    settings = Settings(twilio_from=DEFAULT_NUMBER, smtp_url=SecretStr(SMTP_URL))
    assert pager_gaps(settings, only_dms) == [
        "twilio: half configured, so the worker does not start: set SEVFLOW_TWILIO_ACCOUNT_SID and "
        "SEVFLOW_TWILIO_AUTH_TOKEN (or SEVFLOW_TWILIO_API_KEY and SEVFLOW_TWILIO_API_SECRET)",
        "email: half configured, so the worker does not start: set SEVFLOW_SMTP_FROM",
    ]


TWILIO_FIELDS: dict[str, list[Any]] = {
    "twilio_account_sid": [None, "AC1"],
    "twilio_auth_token": [None, SecretStr("t")],
    "twilio_api_key": [None, "SK1"],
    "twilio_api_secret": [None, SecretStr("s")],
    "twilio_from": [None, DEFAULT_NUMBER, DEFAULT_MESSAGING_SERVICE_SID],
}
SMTP_FIELDS: dict[str, list[Any]] = {
    "smtp_url": [None, SecretStr(SMTP_URL), SecretStr("smtp://")],
    "smtp_from": [None, "pager@example.com"],
}


def _combinations(fields: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(fields, values, strict=True)) for values in itertools.product(*fields.values())]


@pytest.mark.parametrize("fields", _combinations(TWILIO_FIELDS) + _combinations(SMTP_FIELDS))
def test_a_method_is_named_exactly_when_the_worker_would_have_no_way_out_for_it(
    fields: dict[str, Any],
) -> None:
    settings = Settings(**fields)
    gaps = pager_gaps(settings, parse_config(CONFIG))
    try:
        pagers = pagers_from(settings)
    except ConfigError:
        refused = True
        built = {"sms": False, "voice": False, "email": False}
    else:
        refused = False
        built = {
            "sms": pagers.sms is not None,
            "voice": pagers.voice is not None,
            "email": pagers.email is not None,
        }
    for method in ("sms", "voice", "email"):
        named = any(gap.startswith(f"{method}: ") and "cannot go out" in gap for gap in gaps)
        assert named == (not built[method]), (method, gaps, built)
    assert not refused or gaps


async def test_doctor_reports_the_gaps_after_the_config_and_counts_each_as_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "sevflow.yaml"
    config.write_text(CONFIG)

    async def unreachable(settings: Settings) -> None:
        raise ConnectionRefusedError("Temporal is not running here")

    monkeypatch.setattr(doctor, "connect", unreachable)
    lines: list[str] = []
    settings = Settings(config=config, data_dir=tmp_path / "data", smtp_url=SecretStr(SMTP_URL))

    problems = await run_doctor(settings, lines.append)

    assert lines[0] == f"ok       config     {config}"
    assert lines[1:4] == [
        f"PROBLEM  pagers     sms: the texts to alice and bob cannot go out: set {TWILIO_NEEDS}",
        f"PROBLEM  pagers     voice: the calls to alice cannot go out: set {TWILIO_NEEDS}",
        "PROBLEM  pagers     email: the e-mails to bob cannot go out: set SEVFLOW_SMTP_FROM",
    ]
    assert lines[4].startswith("PROBLEM  database ")  # none made in data_dir
    assert lines[5] == "PROBLEM  temporal   Temporal is not running here"
    assert problems == 5

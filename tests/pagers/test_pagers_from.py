"""worker.main.pagers_from: the ways out the settings configure, Twilio reached at SEVFLOW_TWILIO_API_URL
when it is set, and half a configuration refused at start in one sentence."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from activities.push_pager import ApprisePush
from activities.smtp_pager import SmtpEmail
from activities.twilio_pager import TwilioSms, TwilioVoice
from sevflow.errors import ConfigError
from sevflow.settings import Settings
from tests.emulators.twilio import DEFAULT_MESSAGING_SERVICE_SID, DEFAULT_NUMBER, TwilioEmulator
from tests.pagers.conftest import ALICE
from worker.main import pagers_from


def test_without_settings_only_push_is_there() -> None:
    pagers = pagers_from(Settings())
    assert (pagers.sms, pagers.voice, pagers.email) == (None, None, None)
    assert isinstance(pagers.push, ApprisePush)


def test_twilio_from_the_settings_sends_to_the_api_url_with_status_callbacks(twilio: TwilioEmulator) -> None:
    settings = Settings(
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=SecretStr(twilio.auth_token),
        twilio_from=DEFAULT_NUMBER,
        twilio_api_url=twilio.url,
        public_url="https://sevflow.example.com",
    )
    pagers = pagers_from(settings)
    assert isinstance(pagers.sms, TwilioSms) and isinstance(pagers.voice, TwilioVoice)

    pagers.sms.send_sms(ALICE, "page", "incident-1/escalation-1/r1/o0/l0/alice/sms")

    [create] = twilio.requests("messages.create")
    assert create["params"]["From"] == DEFAULT_NUMBER
    assert create["params"]["StatusCallback"].startswith("https://sevflow.example.com/v1/pages/status?page=")


def test_an_api_key_works_as_well_as_the_auth_token(twilio: TwilioEmulator) -> None:
    sid, secret = twilio.add_api_key()
    settings = Settings(
        twilio_account_sid=twilio.account_sid,
        twilio_api_key=sid,
        twilio_api_secret=SecretStr(secret),
        twilio_from=DEFAULT_NUMBER,
        twilio_api_url=twilio.url,
    )
    sms = pagers_from(settings).sms
    assert sms is not None and sms.send_sms(ALICE, "page", "k").startswith("SM")
    assert twilio.requests("messages.create")[0]["user"] == sid
    assert "StatusCallback" not in twilio.requests("messages.create")[0]["params"]  # no public URL set


def test_a_messaging_service_sends_texts_but_cannot_call() -> None:
    settings = Settings(
        twilio_account_sid="AC1", twilio_auth_token=SecretStr("t"), twilio_from=DEFAULT_MESSAGING_SERVICE_SID
    )
    pagers = pagers_from(settings)
    assert isinstance(pagers.sms, TwilioSms) and pagers.voice is None


def test_email_from_the_settings() -> None:
    settings = Settings(smtp_url=SecretStr("smtps://u:p@mail.example.com"), smtp_from="pager@example.com")
    email = pagers_from(settings).email
    assert isinstance(email, SmtpEmail) and (email.server.host, email.server.port) == (
        "mail.example.com",
        465,
    )


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        (
            {"twilio_account_sid": "AC1"},
            "Twilio needs both SEVFLOW_TWILIO_ACCOUNT_SID and SEVFLOW_TWILIO_FROM",
        ),
        (
            {"twilio_account_sid": "AC1", "twilio_from": DEFAULT_NUMBER},
            "Twilio needs SEVFLOW_TWILIO_AUTH_TOKEN "
            "(or SEVFLOW_TWILIO_API_KEY and SEVFLOW_TWILIO_API_SECRET)",
        ),
        ({"smtp_from": "pager@example.com"}, "email pages need both SEVFLOW_SMTP_URL and SEVFLOW_SMTP_FROM"),
        (
            {"smtp_url": SecretStr("mail.example.com"), "smtp_from": "pager@example.com"},
            "SEVFLOW_SMTP_URL must start with smtp:// or smtps://",
        ),
    ],
)
def test_half_a_configuration_is_refused_in_words(settings: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        pagers_from(Settings(**settings))  # type: ignore[arg-type]
    assert str(caught.value).startswith(said)

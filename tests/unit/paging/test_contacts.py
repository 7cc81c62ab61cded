"""Contact methods (issue 16): which may page a person, and how their addresses are masked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.config.loader import InvalidConfig, parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.paging.contacts import ContactBook, Verification, address_digest, address_of, mask
from sevflow.paging.ladder import plan_level
from sevflow.paging.models import Method, PlanLevel
from sevflow.policy import DEFAULT_POLICIES, Severity

AT = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
PEOPLE = """
teams:
  web: {channel: "#web"}
services:
  shop: {team: web}
people:
  alice:
    slack_id: U0ALICE
    email: alice@example.com
    timezone: Europe/Berlin
    phone: "+4930123456"
    push: ntfys://ntfy.example.com/alice-pager
    notify:
      high: [{via: sms}, {via: voice, after: 2m}, {via: push, after: 1m}]
      low: [{via: email}, {via: slack_dm, after: 10m}]
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin, phone: "+14155550100",
        notify: [{via: sms}, {via: email, after: 5m}]}
escalation_policies:
  web:
    levels: [{targets: [{person: alice}, {person: bob}], timeout: 15m}]
teams_policy: {}
""".replace("teams_policy: {}\n", "")


def config() -> SevflowConfig:
    text = PEOPLE.replace('web: {channel: "#web"}', 'web: {channel: "#web", escalation_policy: web}')
    return parse_config(text)


def confirmed(*pairs: tuple[str, Method]) -> ContactBook:
    cfg = config()
    verifications = []
    for name, method in pairs:
        person = cfg.people[name]
        address = address_of(person, method)
        assert address is not None
        verifications.append(Verification(name, method, address_digest(method, address), AT))
    return ContactBook.of(verifications)


def steps(severity: Severity, contacts: ContactBook, urgency: str | None = None) -> dict[str, list[str]]:
    policy = DEFAULT_POLICIES[severity]
    if urgency is not None:
        policy = policy.model_copy(update={"urgency": urgency})
    request = PlanLevel(service="shop", severity=severity, policy=policy, level=0, at=AT)
    plan = plan_level(config(), request, contacts)
    return {t.who: [f"{s.via}@{int(s.after.total_seconds())}" for s in t.notify] for t in plan.targets}


def test_only_confirmed_methods_page_and_nobody_is_left_unpaged() -> None:
    # Nothing confirmed: SMS, voice and push do not page; alice falls back to a Slack DM at once.
    assert steps(Severity.SEV1, ContactBook()) == {"alice": ["slack_dm@0"], "bob": ["slack_dm@0"]}
    both = confirmed(("alice", "sms"), ("alice", "push"), ("bob", "sms"), ("bob", "email"))
    assert steps(Severity.SEV1, both) == {
        "alice": ["sms@0", "push@60"],
        "bob": ["sms@0", "email@300"],
    }


def test_low_urgency_follows_the_low_rules_and_a_plain_list_serves_both() -> None:
    contacts = confirmed(("alice", "email"), ("bob", "sms"))
    assert steps(Severity.SEV2, contacts, urgency="low") == {
        "alice": ["email@0", "slack_dm@600"],
        "bob": ["sms@0"],
    }


def test_a_confirmation_holds_for_its_address_only() -> None:
    old = ContactBook.of([Verification("alice", "sms", address_digest("sms", "+4930000000"), AT)])
    assert steps(Severity.SEV1, old)["alice"] == ["slack_dm@0"]


@pytest.mark.parametrize(
    ("person", "error"),
    [
        ("{notify: [{via: sms}]}", "notify via sms needs a phone"),
        ("{notify: [{via: push}]}", "notify via push needs a push address"),
        ("{push: 'not a url'}", "invalid push address"),
        ("{notify: {high: []}}", "at least one high-urgency rule"),
        ("{notify: [{via: pager}]}", "via"),
    ],
)
def test_contact_methods_that_cannot_work_are_refused(person: str, error: str) -> None:
    base = "slack_id: U0X, email: x@example.com, timezone: UTC"
    spec = person.replace("{", "{" + base + ", ", 1)
    with pytest.raises(InvalidConfig, match=error):
        parse_config(f"people:\n  x: {spec}\n")


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_a_masked_number_never_shows_the_whole_number(phone: str) -> None:
    shown = mask("sms", phone)
    assert phone not in shown
    assert shown.endswith(phone[-3:]) and shown.startswith(phone[:3])
    assert sum(c.isdigit() for c in shown) == 5


def test_masks_of_email_and_push() -> None:
    assert mask("email", "alice@example.com") == "a***@example.com"
    assert mask("push", "ntfys://user:pass@ntfy.example.com/alice-pager") == "ntfys://ntfy.example.com/***"
    assert mask("push", "pover://userkey@apptoken") == "pover://apptoken/***"

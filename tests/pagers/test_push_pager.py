"""ApprisePush (activities/push_pager.py) through the real Apprise against the ntfy emulator: a push
carries the page and its acknowledge link (ntfy: also on a tap, at the highest priority), a failed
push is tried again, and Apprise's own log lines, which name the address, never reach the log."""

from __future__ import annotations

import logging

import apprise
import pytest

from activities.pagers import ProviderUnavailable
from activities.push_pager import ApprisePush, push_url
from activities.webhook import PermanentPageError
from tests.emulators.ntfy import NtfyEmulator

KEY = "incident-7/escalation-1/r1/o0/l0/alice/push"
LINK = "https://sevflow.example.com/v1/pages/ack/t0k3n.x-y_z"


def test_a_push_carries_the_page_and_opens_the_acknowledge_link_on_a_tap(ntfy: NtfyEmulator) -> None:
    ApprisePush().push(ntfy.apprise_url("oncall-alice"), "INC-7 SEV1 checkout", "5xx (within 10m)", LINK, KEY)

    [message] = ntfy.messages("oncall-alice")
    assert message["title"] == "INC-7 SEV1 checkout"
    assert message["message"] == f"5xx (within 10m)\nAcknowledge: {LINK}"
    assert (message["click"], message["priority"]) == (LINK, 5)


def test_the_persons_own_priority_stands_and_other_services_get_the_link_in_the_text() -> None:
    assert push_url("ntfys://ntfy.example.com/alice?priority=high", None) == (
        "ntfys://ntfy.example.com/alice?priority=high"
    )
    assert push_url("ntfy://ntfy.example.com/alice", LINK).endswith(
        "/alice?priority=max&click=https%3A%2F%2Fsevflow.example.com%2Fv1%2Fpages%2Fack%2Ft0k3n.x-y_z"
    )
    assert push_url("tgram://123456:abcdef/987", LINK) == "tgram://123456:abcdef/987"


def test_a_failed_push_is_tried_again_and_apprise_never_logs_the_address(
    ntfy: NtfyEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    ntfy.fail_next(status=500)
    url = ntfy.apprise_url("oncall-alice-s3cret")
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderUnavailable) as caught:
        ApprisePush().push(url, "INC-7", "page", None, KEY)
    with caplog.at_level(logging.DEBUG):
        ApprisePush().push(url, "INC-7", "page", None, KEY)

    assert "oncall-alice-s3cret" not in str(caught.value) and "error=500" in str(caught.value)
    assert str(caught.value).startswith(f"the push to ntfy://127.0.0.1:{ntfy.port}/*** did not go out")
    assert "oncall-alice-s3cret" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("apprise")]
    [ours] = [r.getMessage() for r in caplog.records if r.name.startswith("sevflow")]  # the one delivered
    assert ours == f"page {KEY}: push to ntfy://127.0.0.1:{ntfy.port}/***"
    assert len(ntfy.messages("oncall-alice-s3cret")) == 1


def test_an_address_apprise_cannot_use_is_refused_for_good() -> None:
    with pytest.raises(PermanentPageError, match="is not an Apprise URL that can be used"):
        ApprisePush().push("nosuchservice://alice", "INC-7", "page", None, KEY)


def test_apprise_used_elsewhere_in_the_process_still_logs(
    ntfy: NtfyEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    ApprisePush().push(ntfy.apprise_url("oncall-alice"), "INC-7", "page", None, KEY)
    ntfy.fail_next(status=429)
    other = apprise.Apprise()
    other.add(ntfy.apprise_url("deploys"))
    with caplog.at_level(logging.WARNING, logger="apprise"):
        assert not other.notify(body="deploy finished")
    assert "42901" in caplog.text

"""A sender's control characters are replaced, never refused: the adversary's `check\\u0000out` label
opened incidents for a new service, and PostgreSQL refuses a NUL in text."""

from __future__ import annotations

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus


def test_control_characters_in_an_alert_are_replaced_and_the_alert_kept() -> None:
    alert = Alert(
        fingerprint="f\x00p",
        status=AlertStatus.FIRING,
        name="High\x07Errors",
        summary="line one\nline two\ttab",
        labels={"service": "check\x00out", "ke\x01y": "v"},
    )
    batch = AlertBatch(
        source=AlertSource.GENERIC, group_key="g\x00", alerts=[alert], common_labels={"a": "\x1b[31m"}
    )
    assert alert.labels == {"service": "check\ufffdout", "ke\ufffdy": "v"}
    assert (alert.fingerprint, alert.name) == ("f\ufffdp", "High\ufffdErrors")
    assert alert.summary == "line one\nline two\ttab"
    assert batch.group_key == "g\ufffd" and batch.common_labels == {"a": "\ufffd[31m"}

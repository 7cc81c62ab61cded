"""One word, one severity, on every surface: the CLI, the API, Slack and every alert webhook.

Issue 14: `--severity critical` in the CLI was SEV0 while `"severity": "critical"` in an alert was SEV1,
and an unknown alert severity (`SEV9`) silently became SEV3. Every surface is driven through its real
entry point (Typer's runner, the FastAPI app, the Slack parser, the alert webhooks up to the ingest's
answer); only the Temporal client behind them is replaced by a recorder.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.contrib.pydantic import pydantic_data_converter
from typer.testing import CliRunner

from sevflow.alerts.models import AlertDelivery, Route
from sevflow.config.schema import SevflowConfig
from sevflow.errors import SevflowError
from sevflow.incident.commands import ChangeSeverity, Declare
from sevflow.policy import SEVERITY_WORDS, Severity
from sevflow.settings import Settings
from sevflow.slack.commands import parse_command
from sevflow.slack.intents import CommandError, SeverityIntent
from sevflow.store.repository import Store
from starter import api as api_module
from starter import cli

FIXTURES = Path(__file__).parents[2] / "fixtures" / "alerts"
DEFAULT = Severity.SEV3  # routing.default_severity of the built-in config

# Every spelling a person or a sender may use: the table's words in any case, SEVn, sev-n and n.
KNOWN = sorted(
    {*SEVERITY_WORDS, *(w.upper() for w in SEVERITY_WORDS), *(w.title() for w in SEVERITY_WORDS)}
    | {f"{p}{n}" for p in ("SEV", "sev", "Sev-", "sev ", "") for n in range(5)}
)
words = st.one_of(
    st.sampled_from(KNOWN),
    st.sampled_from(["SEV9", "sev5", "10", "urgent", "high", "fatal", "crit", "p0", "P6", "-1"]),
    st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
)


def expected(word: str) -> Severity | None:
    try:
        return Severity.parse(word)
    except ValueError:
        return None


class Surfaces:
    """Each surface's reading of a severity word: a Severity, or None when it refuses the word."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.recorded: list[Any] = []
        self.routes: list[Route] = []
        self.runner = CliRunner()
        recorded, routes = self.recorded, self.routes

        class Recorder:
            async def declare(self, cmd: Declare, *args: Any, **kwargs: Any) -> Any:
                recorded.append(cmd)
                raise SevflowError("recorded")

            async def command(self, number: int, cmd: ChangeSeverity, *args: Any, **kwargs: Any) -> Any:
                recorded.append(cmd)
                raise SevflowError("recorded")

        @asynccontextmanager
        async def service() -> AsyncIterator[Recorder]:
            yield Recorder()

        async def backend_service(_: Any) -> Recorder:
            return Recorder()

        class Temporal:
            """The client the alert webhooks start or signal their groups' incidents with: records each
            delivery."""

            data_converter = pydantic_data_converter

            async def start_workflow(self, *args: Any, start_signal_args: list[Any], **kwargs: Any) -> None:
                (delivery,) = start_signal_args
                assert isinstance(delivery, AlertDelivery)
                routes.append(delivery.route)

            def get_workflow_handle_for(self, *args: Any) -> Temporal:
                return self  # a delivery in which nothing fires: only signalled

            async def signal(self, signal: Any, delivery: AlertDelivery) -> None:
                routes.append(delivery.route)

        monkeypatch.setattr(cli, "_service", service)
        monkeypatch.setattr(api_module.Backend, "service", backend_service)
        self.store = Store.from_url(f"sqlite:///{tmp / 'sevflow.db'}")
        env = Settings(
            data_dir=tmp, database_url=f"sqlite:///{tmp / 'sevflow.db'}", config=None, http_host="127.0.0.1"
        )
        self.app = api_module.create_app(
            env,
            store=self.store,
            config=SevflowConfig(),
            client=Temporal(),  # type: ignore[arg-type]
            environ={},
        )

    def post(self, path: str, json: dict[str, Any]) -> httpx.Response:
        """One request to the app (each in its own event loop, as each CLI run has its own)."""

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sevflow") as client:
                return await client.post(path, json=json)

        return asyncio.run(go())

    def close(self) -> None:
        self.store.dispose()

    def _last(self) -> Any:
        return self.recorded.pop() if self.recorded else None

    def cli_declare(self, word: str) -> Severity | None:
        args = ["declare", "--title", "t", "--service", "checkout", "--severity", word, "--by", "alice"]
        result = self.runner.invoke(cli.app, args)
        cmd = self._last()
        if cmd is None:  # refused: one line, exit 2, naming the choices
            assert result.exit_code == 2, result.output
            assert result.output.count("\n") == 1 and "choose one of SEV0" in result.output, result.output
            return None
        return Severity(cmd.severity)

    def cli_severity(self, word: str) -> Severity | None:
        result = self.runner.invoke(cli.app, ["severity", "--by", "alice", "--", "7", word])
        cmd = self._last()
        if cmd is None:
            assert result.exit_code == 2, result.output
            assert "choose one of SEV0" in result.output, result.output
            return None
        return Severity(cmd.severity)

    def api_declare(self, word: str) -> Severity | None:
        answer = self.post("/v1/incidents", json={"title": "t", "service": "checkout", "severity": word})
        cmd = self._last()
        if cmd is None:
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"].startswith(f"severity: unknown severity {word!r}: choose one of")
            return None
        return Severity(cmd.severity)

    def slack(self, word: str) -> Severity | None:
        try:
            quoted = f'"{word}"' if " " in word else word  # as a person types `sev 4` in Slack
            intent = parse_command(f"sev INC-7 {quoted}", actor="U0ALICE01")
        except CommandError as err:
            assert "unknown severity" in str(err) or "choose one of" in str(err), str(err)
            return None
        assert isinstance(intent, SeverityIntent)
        return intent.severity

    def _alert(self, path: str, body: dict[str, Any], word: str) -> Severity | None:
        answer = self.post(path, json=body)
        assert answer.status_code == 202, answer.text
        route = self.routes.pop()
        if path == "/v2/enqueue":  # PagerDuty's own answer, with the note after its message
            note = answer.json()["message"].removeprefix("Event processed").removeprefix("; ") or None
        else:
            (outcome,) = answer.json()["batches"]
            assert outcome["severity"] == route.severity.value
            note = outcome["note"]
        assert note == route.severity_note
        if expected(word) is None:  # kept, at the default, and the answer says so
            assert route.severity is DEFAULT
            assert note is not None and note.startswith(f"unknown alert severity {word!r}: SEV3 used")
            return None
        assert note is None
        return route.severity

    def alertmanager(self, word: str) -> Severity | None:
        body = json.loads((FIXTURES / "alertmanager_firing.json").read_text())
        body["groupKey"] = str(uuid4())
        body["alerts"][0]["labels"]["severity"] = body["commonLabels"]["severity"] = word
        return self._alert("/v1/alerts/alertmanager", body, word)

    def grafana(self, word: str) -> Severity | None:
        body = json.loads((FIXTURES / "grafana_webhook_firing.json").read_text())
        body["groupKey"] = str(uuid4())
        body["alerts"][0]["labels"]["severity"] = word
        body["commonLabels"] = {**body.get("commonLabels", {}), "severity": word}
        return self._alert("/v1/alerts/grafana", body, word)

    def generic(self, word: str) -> Severity | None:
        body = {"key": str(uuid4()), "title": "checkout 5xx", "severity": word, "service": "checkout"}
        return self._alert("/v1/alerts/generic", body, word)

    def datadog(self, word: str) -> Severity | None:
        body = json.loads((FIXTURES / "datadog_webhook_default_triggered.json").read_text())
        body["title"] = f"[Triggered on {{service:checkout}}] {uuid4()}"  # its group key
        body["alert_type"] = word
        return self._alert("/v1/alerts/datadog", body, word)

    def pagerduty(self, word: str) -> Severity | None:
        """PagerDuty Events v2 itself refuses severities other than its four (as PagerDuty does); any
        word reaches it through Alertmanager's PagerDuty sender, whose `severity` label counts."""
        trigger = json.loads((FIXTURES / "pagerduty_events_v2_trigger_from_alertmanager.json").read_text())
        body = copy.deepcopy(trigger)
        body["dedup_key"] = str(uuid4())
        details = body["payload"]["custom_details"]["firing"]
        body["payload"]["custom_details"]["firing"] = details.replace(
            "severity = warning", f"severity = {word}"
        )
        assert f"severity = {word}" in body["payload"]["custom_details"]["firing"]
        return self._alert("/v2/enqueue", body, word)


@pytest.fixture
def surfaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Surfaces]:
    found = Surfaces(tmp_path, monkeypatch)
    yield found
    found.close()


def test_pagerduty_severities_are_sevflows_words(surfaces: Surfaces) -> None:
    for word, severity in [("critical", "SEV1"), ("error", "SEV2"), ("warning", "SEV3"), ("info", "SEV4")]:
        body = json.loads((FIXTURES / "pagerduty_events_v2_trigger.json").read_text())
        body["dedup_key"], body["payload"]["severity"] = str(uuid4()), word
        answer = surfaces.post("/v2/enqueue", json=body)
        assert answer.status_code == 202 and answer.json()["message"] == "Event processed"
        assert surfaces.routes.pop().severity == severity
        assert surfaces.cli_declare(word) == severity  # the same word typed by a person


def test_the_reported_case_critical_is_sev1_everywhere(surfaces: Surfaces) -> None:
    readings = [
        surfaces.cli_declare("critical"),
        surfaces.cli_severity("critical"),
        surfaces.api_declare("critical"),
        surfaces.slack("critical"),
        surfaces.alertmanager("critical"),
        surfaces.grafana("critical"),
        surfaces.generic("critical"),
        surfaces.datadog("critical"),
        surfaces.pagerduty("critical"),
    ]
    assert readings == [Severity.SEV1] * len(readings)


def test_an_unknown_alert_severity_is_kept_and_named_in_the_answer(surfaces: Surfaces) -> None:
    assert surfaces.generic("SEV9") is None  # the checks are in _alert: SEV3, and the note says so
    assert surfaces.cli_declare("SEV9") is None  # a person gets a one-line refusal listing the choices


def readings(surfaces: Surfaces, word: str) -> dict[str, Severity | None]:
    return {
        "cli declare": surfaces.cli_declare(word),
        "cli severity": surfaces.cli_severity(word),
        "api": surfaces.api_declare(word),
        "slack": surfaces.slack(word),
        "alertmanager": surfaces.alertmanager(word),
        "grafana": surfaces.grafana(word),
        "generic": surfaces.generic(word),
        "datadog": surfaces.datadog(word),
        "pagerduty (via alertmanager)": surfaces.pagerduty(word),
    }


@pytest.mark.timeout(300)  # every word of the table through nine surfaces: as the test below
def test_every_word_of_the_table_means_its_severity_everywhere(surfaces: Surfaces) -> None:
    for word, severity in {**SEVERITY_WORDS, **{s.value: s for s in Severity}}.items():
        found = readings(surfaces, word)
        assert found == dict.fromkeys(found, severity), word


# 30 words through nine surfaces each, every CLI run building the whole command tree and every request
# an app of its own in a new event loop: well under a minute on a quiet 2-core machine, over it with
# both cores busy (CI with other processes beside it).
@pytest.mark.timeout(300)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(word=words)
def test_every_surface_reads_every_spelling_alike(surfaces: Surfaces, word: str) -> None:
    """Any case and SEVn spelling of the table's words, near misses and random words: every surface
    reads the same severity, or every one refuses (a person) or keeps at SEV3 and says so (an alert)."""
    want = expected(word)
    found = readings(surfaces, word)
    assert found == dict.fromkeys(found, want), word

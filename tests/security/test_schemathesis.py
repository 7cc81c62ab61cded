"""Schemathesis against the OpenAPI document: every operation, fed generated valid and invalid input,
never answers a server error. A 503 that says Temporal cannot be reached is the one 5xx allowed: this
app runs on a SQLite store in tmp with Temporal pointed at a closed port, as when the cluster is down.

SECURITY.md, "Malformed input". Bounded and deterministic: Hypothesis derandomized, a few valid and a
few invalid examples per operation (well under a minute on two cores). The operations are driven from
a plain test rather than `schema.parametrize()`: schemathesis 4.32's pytest plugin reads a private
attribute pytest 9 no longer has (`request.node._nodeid`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from pydantic import SecretStr
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema

from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import IncidentState, Role
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app
from tests.security.support import JIRA_WEBHOOK_SECRET, SLACK_SIGNING_SECRET

# Per operation and generation mode: enough to hit every parameter's edge cases, few enough to stay
# bounded. Derandomized, so a failure reproduces on every run.
EXAMPLES = hypothesis.settings(
    max_examples=6,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
HEADERS = {"X-Sevflow-Webhook-Secret": JIRA_WEBHOOK_SECRET}


@pytest.fixture
def api_schema(offline: None, tmp_path: Path) -> BaseSchema:
    """The app with no API token (so generated requests reach every handler, as on a laptop), the
    webhooks' secrets set, and one incident in the store for the reads to find."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    store.register_incident(
        IncidentState(
            workflow_id="incident-schemathesis",
            title="checkout 5xx",
            service="checkout",
            severity=Severity.SEV2,
            roles={Role.LEAD: "alice"},
            policies=DEFAULT_POLICIES,
            detected_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        )
    )
    settings = Settings(
        task_queue="tq-schemathesis",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
        slack_signing_secret=SecretStr(SLACK_SIGNING_SECRET),
        jira_webhook_secret=SecretStr(JIRA_WEBHOOK_SECRET),
    )
    app = create_app(settings, store=store, config=SevflowConfig(), environ={})
    return schemathesis.openapi.from_asgi("/openapi.json", app)


Operation = APIOperation[Any, Any, Any, Any]


def check(case: Case[Any]) -> None:
    response = case.call(headers=HEADERS)
    where = f"{case.operation.label}: {case.as_curl_command()}"
    if response.status_code == 503:
        assert "Temporal" in response.text, (where, response.text[:500])
        return
    assert response.status_code < 500, (where, response.status_code, response.text[:500])


def fuzz(operation: Operation, mode: GenerationMode) -> None:
    @EXAMPLES
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        check(case)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # An operation without parameters or body has no invalid input to generate.
        if mode is not GenerationMode.NEGATIVE:
            raise


def test_no_operation_answers_a_server_error(api_schema: BaseSchema) -> None:
    operations: list[Operation] = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operations.append(result.ok())
    assert len(operations) >= 30, [o.label for o in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode)

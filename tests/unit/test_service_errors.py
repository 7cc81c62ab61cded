"""How the service layer words Temporal's failures for the CLI, the API and Slack: one clear line."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from sevflow.errors import IncidentNotFound, ServiceUnavailable
from starter.service import IncidentService


async def _failing(error: Exception) -> None:
    raise error


def _service() -> IncidentService:
    # `_answer` reads nothing of the service: no client or store is needed to check its wording.
    return object.__new__(IncidentService)


@pytest.mark.parametrize(
    "status",
    [
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNKNOWN,  # the server went away mid-call: "transport error"
        RPCStatusCode.CANCELLED,
        RPCStatusCode.ABORTED,
    ],
)
async def test_a_server_gone_mid_call_is_service_unavailable(status: RPCStatusCode) -> None:
    with pytest.raises(ServiceUnavailable, match="Temporal is unavailable: transport error"):
        await _service()._answer(_failing(RPCError("transport error", status, b"")), "nothing changed")


async def test_a_missing_workflow_is_not_found() -> None:
    with pytest.raises(IncidentNotFound):
        await _service()._answer(
            _failing(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")), "nothing changed"
        )


async def test_other_rpc_errors_are_not_hidden() -> None:
    with pytest.raises(RPCError):
        await _service()._answer(
            _failing(RPCError("bad payload", RPCStatusCode.INVALID_ARGUMENT, b"")), "nothing changed"
        )

"""The Temporal connection, from the standard TEMPORAL_* variables and client config profile."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from sevflow.errors import ConfigError, ServiceUnavailable
from sevflow.settings import Settings

# Whether this process made a Temporal runtime (a client, SDK metrics): starter.cli then exits without
# finalizing the interpreter, which the runtime's threads can abort (see starter/cli.py, _exit).
_runtime_made = False


def runtime_made() -> bool:
    return _runtime_made


def temporal_target(settings: Settings) -> str:
    config = ClientConfig.load_client_connect_config()
    return str(config.get("target_host") or f"127.0.0.1:{settings.temporal_port}")


def uses_external_temporal() -> bool:
    """True when TEMPORAL_ADDRESS (or a config profile) names a server: `sevflow up` then starts none."""
    return bool(ClientConfig.load_client_connect_config().get("target_host"))


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime whose SDK metrics (temporal_workflow_completed, temporal_request, ...) are
    served in Prometheus' text format at http://<bind_address>/metrics. One per process: the SDK's
    exporter binds the address when the runtime is made."""
    global _runtime_made
    _runtime_made = True
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))
    except (ValueError, RuntimeError) as err:  # not host:port, or the port is taken
        raise ConfigError(
            f"SEVFLOW_WORKER_METRICS_ADDRESS={bind_address!r}: {str(err).splitlines()[0]} "
            "(write host:port, like 127.0.0.1:9464)"
        ) from err


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """The client; `runtime` (see metrics_runtime) carries the SDK's telemetry of the worker built on it."""
    global _runtime_made
    _runtime_made = True
    config = ClientConfig.load_client_connect_config()
    config["target_host"] = temporal_target(settings)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime)
    except RuntimeError as err:
        raise ServiceUnavailable(
            f"cannot reach Temporal at {config['target_host']}: is `sevflow up` (or your cluster) "
            f"running? ({str(err).splitlines()[0]})"
        ) from err

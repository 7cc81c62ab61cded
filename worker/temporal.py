"""The Temporal connection, from the standard TEMPORAL_* variables and client config profile."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

from sevflow.errors import ServiceUnavailable
from sevflow.settings import Settings


def temporal_target(settings: Settings) -> str:
    config = ClientConfig.load_client_connect_config()
    return str(config.get("target_host") or f"127.0.0.1:{settings.temporal_port}")


def uses_external_temporal() -> bool:
    """True when TEMPORAL_ADDRESS (or a config profile) names a server: `sevflow up` then starts none."""
    return bool(ClientConfig.load_client_connect_config().get("target_host"))


async def connect(settings: Settings) -> Client:
    config = ClientConfig.load_client_connect_config()
    config["target_host"] = temporal_target(settings)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter)
    except RuntimeError as err:
        raise ServiceUnavailable(
            f"cannot reach Temporal at {config['target_host']}: is `sevflow up` (or your cluster) "
            f"running? ({str(err).splitlines()[0]})"
        ) from err

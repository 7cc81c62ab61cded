"""The on-call board: who is on every rotation layer, and whom every escalation policy's first level
reaches, at one instant. What `sevflow oncall` prints and the dashboard's /oncall page shows; each
renders it its own way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sevflow.config.schema import Layer, SevflowConfig
from sevflow.oncall.rotation import OnCall, Resolved, Rotation, resolve_level, who_is_on


@dataclass(frozen=True)
class LayerOnCall:
    """One layer of one rotation; `on` is None when nobody is on (a gap)."""

    rotation: str
    layer: Layer
    zone: str  # the rotation's IANA zone, for showing its shift times
    on: OnCall | None


@dataclass(frozen=True)
class FirstLevel:
    """An escalation policy's first level: whom it pages, and how long it waits for an ack (None: the
    incident severity's ack_timeout)."""

    policy: str
    timeout: timedelta | None
    targets: tuple[Resolved, ...]


@dataclass(frozen=True)
class OnCallBoard:
    at: datetime
    rotations: tuple[LayerOnCall, ...]
    policies: tuple[FirstLevel, ...]


def on_call_board(config: SevflowConfig, at: datetime) -> OnCallBoard:
    """The board at `at` (timezone-aware), rotations and policies in sevflow.yaml's order."""
    layers: list[LayerOnCall] = []
    for name in config.rotations:
        rotation = Rotation.from_config(config, name)
        for layer in rotation.layers:
            on = who_is_on(rotation, layer, at, config.overrides)
            layers.append(LayerOnCall(name, layer, rotation.zone.key, on))
    known = {(found.rotation, found.layer): found.on for found in layers}
    policies = tuple(
        FirstLevel(name, policy.levels[0].timeout, tuple(resolve_level(config, name, 0, at, known)))
        for name, policy in config.escalation_policies.items()
    )
    return OnCallBoard(at, tuple(layers), policies)

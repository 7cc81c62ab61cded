"""On-call: who is on for a rotation layer at any instant, shifts, overrides and coverage gaps.

Pure math over the `people`, `rotations`, `overrides` and `escalation_policies` sections of
sevflow.yaml (see sevflow.oncall.rotation), and over the confirmed contact methods for who would be on
call with no way to wake them (sevflow.oncall.contacts). No Temporal, no clock, no network.
"""

from sevflow.oncall.board import FirstLevel, LayerOnCall, OnCallBoard, on_call_board
from sevflow.oncall.contacts import ContactGap, contact_gaps
from sevflow.oncall.rotation import (
    COVERAGE_HORIZON,
    Gap,
    OnCall,
    Resolved,
    Rotation,
    Shift,
    coverage_gaps,
    resolve_level,
    shifts,
    who_is_on,
)

__all__ = [
    "COVERAGE_HORIZON",
    "ContactGap",
    "FirstLevel",
    "Gap",
    "LayerOnCall",
    "OnCall",
    "OnCallBoard",
    "Resolved",
    "Rotation",
    "Shift",
    "contact_gaps",
    "coverage_gaps",
    "on_call_board",
    "resolve_level",
    "shifts",
    "who_is_on",
]

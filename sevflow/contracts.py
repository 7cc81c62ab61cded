"""Activity names and their input/output models: all a workflow knows of an activity.

Workflows import this module, never the implementations in `activities/`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from sevflow.incident.models import IncidentState, TimelineEvent

REGISTER_INCIDENT = "register_incident"
RECORD_INCIDENT = "record_incident"
POST_MESSAGE = "post_message"


class RegisterIncident(BaseModel):
    """Allocate the incident's number (once per workflow id) and store its first snapshot."""

    state: IncidentState


class Registered(BaseModel):
    """The incident's number, and the earlier incident it repeats (same fingerprint or alert name)."""

    number: int
    repeat_of: int | None = None


class IncidentRecord(BaseModel):
    """The newest snapshot of an incident and the timeline events that led to it."""

    state: IncidentState
    events: list[TimelineEvent] = Field(default_factory=list)


class ChatMessage(BaseModel):
    """A message to post. `key` is unique per workflow event: the same key never posts twice."""

    key: str
    incident_number: int
    text: str
    channel: str | None = None  # None: the incident's own channel
    mentions: list[str] = Field(default_factory=list)


class MessageRef(BaseModel):
    channel: str
    ts: str

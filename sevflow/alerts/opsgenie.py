"""Opsgenie's Alert API, as sevflow reads it: request bodies checked against Opsgenie's documented limits,
and the alert batches they become.

An Opsgenie integration changes only its URL (`POST /v2/alerts`, `/v2/alerts/{identifier}/close`,
`/acknowledge`, `/notes`; starter/opsgenie_api.py serves them). What a body becomes:

- **create**: one alert keyed by its `alias` (Opsgenie de-duplicates by alias: the alias is the group
  key, so every create with one alias is one incident while it is open); without an alias one is made
  up, as Opsgenie does. `message` (its `[FIRING:n]` tag taken off) is the incident title; `details`
  become labels (Alertmanager's `opsgenie_configs` sends the group's common labels there), with `entity`
  as the `service` label unless a detail names one, the first team of `responders` as the `team` label,
  and `tags` joined by commas as the `tags` label, for routing rules to match. `description`, `note`,
  `source` and `user` are annotations.
- **priority** is the severity: P1 SEV1, P2 SEV2, P3 SEV3, P4 and P5 SEV4 (`sevflow.policy`'s `p1`-`p5`
  words). Without a priority, a `severity` detail (Alertmanager's `severity` label) decides, else P3,
  Opsgenie's default.
- **close** resolves the alert, **acknowledge** acknowledges its incident as the source (it stops the
  paging; TTA waits for a person), as PagerDuty Events v2's `acknowledge` does.

Bad bodies raise `OpsgenieInvalid` with every problem by field, Opsgenie's `errors` object of a 422.
Unknown fields are ignored (Opsgenie's `actions`, `visibleTo` are checked and kept out of sevflow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from uuid import uuid4

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus
from sevflow.alerts.parsers import (
    FINGERPRINT_MAX,
    _bounded,
    _clean,
    _label_map,
    _path,
    _text_or_none,
    _without_status_tag,
    _words,
)

__all__ = [
    "ACTION_MAX",
    "ALIAS_MAX",
    "DESCRIPTION_MAX",
    "DETAILS_MAX",
    "ENTITY_MAX",
    "MESSAGE_MAX",
    "NOTE_MAX",
    "PRIORITIES",
    "SOURCE_MAX",
    "TAGS_MAX",
    "TAG_MAX",
    "USER_MAX",
    "ActionRequest",
    "CreateRequest",
    "IdentifierType",
    "NoteRequest",
    "OpsgenieInvalid",
    "acknowledge_batch",
    "actor",
    "close_batch",
    "create_batch",
    "identifier_type",
    "parse_action",
    "parse_create",
    "parse_note",
]

# Opsgenie's documented limits (Alert API, "Create Alert" and the action endpoints).
MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15_000
RESPONDERS_MAX = 50
VISIBLE_TO_MAX = 50
ACTIONS_MAX = 10
ACTION_MAX = 50
TAGS_MAX = 20
TAG_MAX = 50
DETAILS_MAX = 8_000  # characters of every key and value together
ENTITY_MAX = 512
SOURCE_MAX = 100
USER_MAX = 100
NOTE_MAX = 25_000
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
DEFAULT_PRIORITY = "P3"
# Opsgenie's own words for the two mistakes senders make most.
EMPTY_MESSAGE = "Message can not be empty."
BAD_PRIORITY = "should be one of [ P1, P2, P3, P4, P5 ]"


class OpsgenieInvalid(ValueError):
    """A body Opsgenie would answer 422: `errors` maps each bad field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {why}" for field, why in self.errors.items()))


class IdentifierType(StrEnum):
    """How `{identifier}` names an alert: Opsgenie's id (the default), its alias, or its tiny id."""

    ID = "id"
    ALIAS = "alias"
    TINY = "tiny"


def identifier_type(value: str | None) -> IdentifierType:
    """`identifierType` of the query string; missing means `id`, as in Opsgenie."""
    if value is None or value == "":
        return IdentifierType.ID
    try:
        return IdentifierType(value)
    except ValueError:
        raise OpsgenieInvalid({"identifierType": "should be one of [ id, alias, tiny ]"}) from None


# --- wire models -----------------------------------------------------------------------------------


# Optional text (null and "" are None, numbers become text) and details (a map of text, scalars written
# as text, null empty): the other senders' rules (sevflow.alerts.parsers).
_text = _text_or_none
_details = _label_map


def _list(value: Any) -> Any:
    return [] if value is None else value


Text = Annotated[str | None, BeforeValidator(_text)]
AliasText = Annotated[Annotated[str, Field(max_length=ALIAS_MAX)] | None, BeforeValidator(_text)]
DescriptionText = Annotated[Annotated[str, Field(max_length=DESCRIPTION_MAX)] | None, BeforeValidator(_text)]
EntityText = Annotated[Annotated[str, Field(max_length=ENTITY_MAX)] | None, BeforeValidator(_text)]
SourceText = Annotated[Annotated[str, Field(max_length=SOURCE_MAX)] | None, BeforeValidator(_text)]
UserText = Annotated[Annotated[str, Field(max_length=USER_MAX)] | None, BeforeValidator(_text)]
NoteText = Annotated[Annotated[str, Field(max_length=NOTE_MAX)] | None, BeforeValidator(_text)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Responder(_Wire):
    type: Literal["team", "user", "escalation", "schedule"]
    id: Text = None
    name: Text = None
    username: Text = None

    @model_validator(mode="after")
    def _named(self) -> _Responder:
        if not (self.id or self.name or self.username):
            raise ValueError("id or name should be provided")
        return self


class _Create(_Wire):
    message: str
    alias: AliasText = None
    description: DescriptionText = None
    responders: Annotated[list[_Responder], BeforeValidator(_list)] = Field(
        default_factory=list, max_length=RESPONDERS_MAX
    )
    visibleTo: Annotated[list[_Responder], BeforeValidator(_list)] = Field(
        default_factory=list, max_length=VISIBLE_TO_MAX
    )
    actions: Annotated[list[Annotated[str, Field(max_length=ACTION_MAX)]], BeforeValidator(_list)] = Field(
        default_factory=list, max_length=ACTIONS_MAX
    )
    tags: Annotated[list[Annotated[str, Field(max_length=TAG_MAX)]], BeforeValidator(_list)] = Field(
        default_factory=list, max_length=TAGS_MAX
    )
    details: Annotated[dict[str, str], BeforeValidator(_details)] = Field(default_factory=dict)
    entity: EntityText = None
    source: SourceText = None
    priority: Text = None
    user: UserText = None
    note: NoteText = None

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(EMPTY_MESSAGE)
        if len(value) > MESSAGE_MAX:
            raise ValueError(f"must be at most {MESSAGE_MAX} characters long, not {len(value)}")
        return value

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: str | None) -> str | None:
        if value is not None and value not in PRIORITIES:
            raise ValueError(BAD_PRIORITY)
        return value

    @field_validator("details")
    @classmethod
    def _details_size(cls, value: dict[str, str]) -> dict[str, str]:
        size = sum(len(key) + len(item) for key, item in value.items())
        if size > DETAILS_MAX:
            raise ValueError(f"must be at most {DETAILS_MAX} characters in all (keys and values), not {size}")
        return value


class _Action(_Wire):
    user: UserText = None
    source: SourceText = None
    note: NoteText = None


class _Note(_Action):
    note: Annotated[str, Field(max_length=NOTE_MAX)]


# --- what a request says ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRequest:
    """A create, checked: `alias` is the sender's, or made up when it sent none (`generated_alias`)."""

    message: str
    alias: str
    generated_alias: bool
    priority: str | None
    description: str | None
    details: dict[str, str]
    tags: list[str]
    entity: str | None
    source: str | None
    user: str | None
    note: str | None
    teams: list[str]


@dataclass(frozen=True)
class ActionRequest:
    """The body of close and acknowledge (every field optional)."""

    user: str | None = None
    source: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class NoteRequest:
    """The body of add-note: the note is required."""

    note: str
    user: str | None = None
    source: str | None = None


_M = TypeVar("_M", bound=BaseModel)


def _errors(exc: ValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        field = _path(err["loc"]) or "body"
        found.setdefault(field, _words(err))
    return found


def _checked(model: type[_M], body: Any) -> tuple[_M, dict[str, str]]:
    """`body` as `model`, and the problems found (empty when there are none): all of them at once, as
    Opsgenie lists them."""
    if not isinstance(body, Mapping):
        raise OpsgenieInvalid({"body": "must be a JSON object"})
    try:
        body = _clean(body)
    except RecursionError:
        raise OpsgenieInvalid({"body": "is nested too deeply"}) from None
    try:
        return model.model_validate(body), {}
    except ValidationError as exc:
        return model.model_construct(), _errors(exc)


def parse_create(body: Any, new_alias: Callable[[], str] = lambda: uuid4().hex) -> CreateRequest:
    """A create-alert body, checked against Opsgenie's limits; OpsgenieInvalid lists every problem."""
    wire, errors = _checked(_Create, body)
    if errors:
        if errors.get("message") == "is required":
            errors["message"] = EMPTY_MESSAGE
        raise OpsgenieInvalid(errors)
    message = wire.message
    alias = (wire.alias or "").strip()
    return CreateRequest(
        message=message,
        alias=alias or new_alias(),
        generated_alias=not alias,
        priority=wire.priority,
        description=wire.description,
        details=dict(wire.details),
        tags=[tag.strip() for tag in wire.tags if tag.strip()],
        entity=wire.entity,
        source=wire.source,
        user=wire.user,
        note=wire.note,
        teams=[r.name or r.id or "" for r in wire.responders if r.type == "team"],
    )


def parse_action(body: Any) -> ActionRequest:
    """The body of close or acknowledge; an empty body (Opsgenie allows none) is `{}`."""
    wire, errors = _checked(_Action, {} if body is None else body)
    if errors:
        raise OpsgenieInvalid(errors)
    return ActionRequest(user=wire.user, source=wire.source, note=wire.note)


def parse_note(body: Any) -> NoteRequest:
    """The body of add-note: `note` required (at most 25,000 characters), `user` and `source` optional."""
    wire, errors = _checked(_Note, body)
    if not errors and not wire.note.strip():
        errors["note"] = "Note can not be empty."
    if errors:
        if errors.get("note") == "is required":
            errors["note"] = "Note can not be empty."
        raise OpsgenieInvalid(errors)
    return NoteRequest(note=wire.note, user=wire.user, source=wire.source)


def actor(user: str | None) -> str:
    """Who an action is by on the incident's timeline: the integration, naming the user it says it acts
    for. The key proves the integration, not the user, so the user never acts as a person (a role, a
    permission) through it. Its whitespace is one space: a line break in it would make a name no longer
    read as a machine's."""
    who = " ".join((user or "").split())
    return f"opsgenie ({who})" if who else "opsgenie"


# --- batches ---------------------------------------------------------------------------------------


def _fingerprint(alias: str) -> str:
    return _bounded(alias, FINGERPRINT_MAX)


def create_batch(request: CreateRequest) -> AlertBatch:
    """The alert a create fires, keyed by its alias (see the module's docstring for the mapping)."""
    labels = dict(request.details)
    if request.entity and not labels.get("service"):
        labels["service"] = request.entity
    if request.entity:
        labels.setdefault("entity", request.entity)
    if request.teams and request.teams[0] and not labels.get("team"):
        labels["team"] = request.teams[0]
    if request.tags:
        labels.setdefault("tags", ",".join(request.tags))
    if request.priority:
        labels["priority"] = request.priority
    title = _without_status_tag(request.message)
    annotations = {"summary": title}
    for name, value in (
        ("description", request.description),
        ("note", request.note),
        ("source", request.source),
        ("user", request.user),
    ):
        if value:
            annotations[name] = value
    name = labels.get("alertname") or title
    severity = request.priority or request.details.get("severity") or DEFAULT_PRIORITY
    alert = Alert(
        fingerprint=_fingerprint(request.alias),
        status=AlertStatus.FIRING,
        name=name,
        summary=title,
        labels=labels,
        annotations=annotations,
        runbook_url=labels.get("runbook_url") or labels.get("runbook") or None,
        dashboard_url=labels.get("dashboard_url") or labels.get("dashboard") or None,
        severity_hint=severity,
    )
    return AlertBatch(
        source=AlertSource.OPSGENIE,
        group_key=request.alias,
        alerts=[alert],
        title=title,
        common_labels=labels,
    )


def _state_batch(
    alias: str, status: AlertStatus, action: Literal["alert", "acknowledge"], name: str | None = None
) -> AlertBatch:
    # The alert is named by its alias, as PagerDuty's events without a summary are by their dedup key:
    # a close or an acknowledge carries no message.
    named = _bounded(name or alias, 200)
    alert = Alert(fingerprint=_fingerprint(alias), status=status, name=named, summary=alias)
    return AlertBatch(source=AlertSource.OPSGENIE, group_key=alias, alerts=[alert], action=action)


def close_batch(alias: str) -> AlertBatch:
    """A close: the alert of `alias` resolved."""
    return _state_batch(alias, AlertStatus.RESOLVED, "alert")


def acknowledge_batch(alias: str, user: str | None = None) -> AlertBatch:
    """An acknowledge: the incident of `alias` acknowledged by the source (its paging stops), as
    `opsgenie (<user>)` when the sender named the user it acts for (`user`, already the person's one
    identity), else as `opsgenie (<alias>)`. The acknowledger is the alert's name (sevflow.alerts.group
    names an acknowledge by its source and that name; the alias still keys the group)."""
    return _state_batch(alias, AlertStatus.FIRING, "acknowledge", name=" ".join((user or "").split()))

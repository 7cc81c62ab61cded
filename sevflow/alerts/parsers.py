"""Every sender's webhook body, decoded, as normalised `AlertBatch`es.

One function per sender. Each takes the decoded JSON body (a dict) and returns batches, or raises
`InvalidPayload` (a ValueError) whose message is one sentence naming the bad field, like
``alerts[0].status: must be 'firing' or 'resolved'``. Nothing else is ever raised for bad input: the HTTP
layer turns `InvalidPayload` into a 400, and anything else would be a 500 that senders retry forever.
Senders add fields over time, so unknown fields are ignored everywhere.

- `parse_alertmanager(body, group_by)`: Alertmanager webhook v4. Each alert's own `status` counts (the
  group's stays `firing` while any alert fires); the batch key is `groupKey`. With `group_by` (label
  names; `...` means all labels) the group is split into one batch per distinct value of those labels,
  keyed ``<groupKey>|{label="value", ...}``.
- `parse_grafana(body, group_by)`: Grafana alerting webhook, payload version 1 (the same shape plus
  `title`, `state`, `message` and per-alert `dashboardURL`, `panelURL`, `silenceURL`, `values`).
- `parse_pagerduty(body)`: PagerDuty Events API v2 (`trigger`, `acknowledge`, `resolve`), returning a
  `PagerDutyEvent` with the dedup key to answer (generated for a trigger without one, as PagerDuty does).
- `parse_datadog(body)`: the Datadog webhook's default template (every value a string, `date` in epoch
  milliseconds) and the usual custom-template variables; `parse_form(raw)` decodes a form-encoded body.
- `parse_generic(body)`: sevflow's own format, below.

The generic format (`POST /v1/alerts/generic`, JSON)
-----------------------------------------------------

One alert::

    {
      "key": "checkout-5xx",              required, 1-255 characters: the dedup key of this alert
      "status": "firing",                 "firing" (default) or "resolved"
      "title": "Checkout 5xx above 5%",   optional: the incident title (default: the key)
      "summary": "...",                   optional: one line about this alert (default: the title)
      "severity": "critical",             optional: SEV0-SEV4 or a word (critical, error, warning,
                                          info, P1-P5 ..., or of routing.severity_map); unknown: said
      "service": "checkout",              optional: becomes the `service` label
      "labels": {"env": "prod"},          optional: text values (numbers and booleans become text)
      "annotations": {"owner": "..."},    optional: text values
      "started_at": "2026-11-23T11:00:00Z",  optional ISO 8601 (no zone means UTC): when impact began
      "ended_at": "2026-11-23T11:20:00Z",    optional ISO 8601: when it stopped (resolved alerts)
      "runbook_url": "https://...",       optional
      "dashboard_url": "https://...",     optional
      "generator_url": "https://..."      optional: the page of the check that fired
    }

Several alerts at once::

    {
      "alerts": [ <one alert as above>, ... ],   required, at least one
      "group_key": "checkout",            optional, 1-1024 characters: all the alerts form one incident
                                          under this key; without it each alert is its own incident
      "title": "Checkout is failing",     optional: the incident title (default: the first alert's)
      "labels": {"team": "payments"}      optional: labels shared by the group (default: the labels
                                          every alert has in common)
    }

A resolved alert needs only its key: ``{"key": "checkout-5xx", "status": "resolved"}``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs
from uuid import uuid4

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from sevflow import json_input
from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus

__all__ = [
    "InvalidPayload",
    "PagerDutyEvent",
    "parse_alertmanager",
    "parse_datadog",
    "parse_form",
    "parse_generic",
    "parse_grafana",
    "parse_pagerduty",
]

FINGERPRINT_MAX = 255
GROUP_KEY_MAX = 1024


class InvalidPayload(ValueError):
    """The body is not what the sender's format allows; the message names the field, in one sentence."""


# --- wire field types ------------------------------------------------------------------------------


def _number_text(value: float) -> str:
    """A JSON number as text (12 is "12", 0.5 is "0.5"). One no double can hold is refused: 1e999 is
    valid JSON that parses to infinity, and Python's parser also takes NaN and Infinity, none of which
    JSON has; written as text they would be "inf" and "nan", an alias or a detail nobody sent."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            "must be a string or a finite number (1e999 and larger overflow to infinity; NaN and "
            "Infinity are not JSON)"
        )
    return str(value)


def _text_or_none(value: Any) -> Any:
    """Optional text: missing, null and "" are all None; numbers become text (finite ones only)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_text(value)
    return value


def _label_map(value: Any) -> Any:
    """Labels and annotations: text values (numbers and booleans are written as text); null is empty."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, bool):
                out[key] = "true" if item else "false"
            elif isinstance(item, int | float):
                try:
                    out[key] = _number_text(item)
                except ValueError as err:
                    raise ValueError(f"{json.dumps(str(key))[:60]} {err}") from None
            else:
                out[key] = item
        return out
    return value


_TIME_HINT = "must be an ISO 8601 date and time like 2026-11-23T11:00:00Z"


def _normalise_time(value: datetime) -> datetime | None:
    if value.year <= 1:  # Go's zero time: Alertmanager's endsAt of a firing alert
        return None
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{_TIME_HINT} (this one is out of range)") from None


def _wire_time(value: Any) -> Any:
    """ISO 8601 text as an aware UTC datetime; no zone means UTC; Go's zero time and "" mean None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _normalise_time(value)
    if not isinstance(value, str):
        raise ValueError(_TIME_HINT)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(_TIME_HINT) from None
    return _normalise_time(parsed)


def _epoch_time(value: Any) -> Any:
    """Datadog's `$DATE`: epoch milliseconds as text (plain seconds are recognised by their size)."""
    if value is None or value == "":
        return None
    hint = "must be epoch milliseconds like 1795431600000"
    if isinstance(value, bool):
        raise ValueError(hint)
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d{1,20}(?:\.\d{1,9})?\s*", value):
            raise ValueError(hint)
        number = float(value)
    elif isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{hint} (this one is out of range)") from None
    else:
        raise ValueError(hint)
    seconds = number / 1000 if number >= 1e11 else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{hint} (this one is out of range)") from None


OptText = Annotated[str | None, BeforeValidator(_text_or_none)]
Labels = Annotated[dict[str, str], BeforeValidator(_label_map)]
WireTime = Annotated[datetime | None, BeforeValidator(_wire_time)]
EpochTime = Annotated[datetime | None, BeforeValidator(_epoch_time)]


class _Wire(BaseModel):
    """A sender's message: unknown fields are kept and ignored (senders add fields)."""

    model_config = ConfigDict(extra="allow")


# --- error messages --------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _path(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENT.match(part):
            text += ("." if text else "") + part
        else:
            shown = part if len(part) <= 40 else part[:37] + "..."
            text += f"[{json.dumps(shown)}]"
    return text


def _words(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be an object"
    if kind == "string_type":
        return "must be a string"
    if kind == "string_unicode":
        return "must be valid Unicode text"
    if kind in ("list_type", "tuple_type"):
        return "must be a list"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"):
        return "must be a number"
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error")
        return str(error) if error is not None else str(err["msg"])
    msg = str(err["msg"])
    return msg[:1].lower() + msg[1:]


def _sentence(err: ErrorDetails) -> str:
    path = _path(err["loc"])
    words = _words(err)
    if not path:
        return "the body must be a JSON object" if words == "must be an object" else f"the body {words}"
    return f"{path}: {words}"


_M = TypeVar("_M", bound=BaseModel)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_text(text: str) -> str:
    """`text` with lone surrogates (JSON allows "\\ud800") replaced: they cannot be stored or sent on."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _validate(model: type[_M], body: Any) -> _M:
    try:
        body = _clean(body)
    except RecursionError:
        raise InvalidPayload("the body is nested too deeply") from None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidPayload(_sentence(exc.errors(include_url=False)[0])) from None


# --- shared helpers --------------------------------------------------------------------------------


def _bounded(text: str, limit: int) -> str:
    """`text`, or when it is longer than `limit` a prefix and a hash of it (still unique, still stable)."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{text[: limit - len(digest) - 1]}#{digest}"


def _common(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The items every mapping has, with the same value."""
    if not mappings:
        return {}
    first, rest = mappings[0], mappings[1:]
    return {key: value for key, value in first.items() if all(m.get(key) == value for m in rest)}


def _label_hash(labels: Mapping[str, str]) -> str:
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return str(type(value).__name__)


_STATUS_TAG = re.compile(r"^\s*\[(?:FIRING|RESOLVED)(?::\s*\d+)?\]\s*", re.IGNORECASE)


def _without_status_tag(text: str) -> str:
    """`[FIRING:2] HighErrorRate (checkout)` -> `HighErrorRate (checkout)`: titles must not change."""
    return _STATUS_TAG.sub("", text, count=1).strip() or text.strip()


# --- Alertmanager and Grafana ----------------------------------------------------------------------


class _AMAlert(_Wire):
    status: Literal["firing", "resolved"]
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    startsAt: WireTime = None
    endsAt: WireTime = None
    generatorURL: OptText = None
    fingerprint: OptText = None


class _AMMessage(_Wire):
    groupKey: str = Field(min_length=1)
    status: OptText = None
    receiver: OptText = None
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: OptText = None
    alerts: list[_AMAlert] = Field(min_length=1)


class _GrafanaAlert(_AMAlert):
    dashboardURL: OptText = None
    panelURL: OptText = None
    silenceURL: OptText = None


class _GrafanaMessage(_AMMessage):
    alerts: list[_GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]
    title: OptText = None
    state: OptText = None
    message: OptText = None


def _am_alert(index: int, wire: _AMAlert, dashboard_url: str | None) -> Alert:
    labels = wire.labels
    annotations = wire.annotations
    fingerprint = wire.fingerprint
    if fingerprint is None:
        if not labels:
            raise InvalidPayload(f"alerts[{index}].fingerprint: is required for an alert without labels")
        fingerprint = f"labels:{_label_hash(labels)}"
    name = labels.get("alertname") or "alert"
    firing = wire.status == "firing"
    return Alert(
        fingerprint=_bounded(fingerprint, FINGERPRINT_MAX),
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        name=name,
        summary=annotations.get("summary") or annotations.get("description") or name,
        labels=labels,
        annotations=annotations,
        starts_at=wire.startsAt,
        ends_at=None if firing else wire.endsAt,
        generator_url=wire.generatorURL,
        dashboard_url=dashboard_url
        or annotations.get("dashboard")
        or annotations.get("dashboard_url")
        or annotations.get("dashboardURL")
        or None,
        runbook_url=annotations.get("runbook_url") or annotations.get("runbook") or None,
        severity_hint=labels.get("severity") or None,
    )


def _am_title(common_annotations: Mapping[str, str], common_labels: Mapping[str, str], first: Alert) -> str:
    summary = common_annotations.get("summary")
    if summary:
        return summary
    name = common_labels.get("alertname") or first.name
    where = next(
        (common_labels[label] for label in ("service", "job", "instance") if common_labels.get(label)), None
    )
    return f"{name} on {where}" if where else name


def _group_suffix(labels: Mapping[str, str], group_by: Sequence[str]) -> str:
    names = sorted(labels) if "..." in group_by else list(dict.fromkeys(group_by))
    pairs = ", ".join(f"{name}={json.dumps(labels.get(name, ''), ensure_ascii=False)}" for name in names)
    return "{" + pairs + "}"


def _am_batches(
    source: AlertSource,
    message: _AMMessage,
    alerts: list[Alert],
    group_by: Sequence[str] | None,
    title: str | None,
) -> list[AlertBatch]:
    if not group_by:
        common_labels = message.commonLabels or _common([a.labels for a in alerts])
        return [
            AlertBatch(
                source=source,
                group_key=_bounded(message.groupKey, GROUP_KEY_MAX),
                alerts=alerts,
                title=title or _am_title(message.commonAnnotations, common_labels, alerts[0]),
                common_labels=common_labels,
                external_url=message.externalURL,
            )
        ]
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(_group_suffix(alert.labels, group_by), []).append(alert)
    batches = []
    for suffix, members in groups.items():
        common_labels = _common([a.labels for a in members])
        common_annotations = _common([a.annotations for a in members])
        batches.append(
            AlertBatch(
                source=source,
                group_key=_bounded(f"{message.groupKey}|{suffix}", GROUP_KEY_MAX),
                alerts=members,
                title=_am_title(common_annotations, common_labels, members[0]),
                common_labels=common_labels,
                external_url=message.externalURL,
            )
        )
    return batches


def parse_alertmanager(body: Any, group_by: Sequence[str] | None = None) -> list[AlertBatch]:
    """An Alertmanager webhook (v4) as one batch per group, or per `group_by` value when given."""
    message = _validate(_AMMessage, body)
    alerts = [_am_alert(index, wire, None) for index, wire in enumerate(message.alerts)]
    return _am_batches(AlertSource.ALERTMANAGER, message, alerts, group_by, None)


def parse_grafana(body: Any, group_by: Sequence[str] | None = None) -> list[AlertBatch]:
    """A Grafana alerting webhook (payload version 1) like `parse_alertmanager`, titled by its `title`."""
    message = _validate(_GrafanaMessage, body)
    alerts = [
        _am_alert(index, wire, wire.dashboardURL or wire.panelURL)
        for index, wire in enumerate(message.alerts)
    ]
    title = _without_status_tag(message.title) if message.title and not group_by else None
    return _am_batches(AlertSource.GRAFANA, message, alerts, group_by, title)


# --- PagerDuty Events API v2 -----------------------------------------------------------------------


class _PDLink(_Wire):
    href: OptText = None
    text: OptText = None


class _PDImage(_Wire):
    src: OptText = None
    href: OptText = None
    alt: OptText = None


class _PDPayload(_Wire):
    summary: OptText = None
    source: OptText = None
    severity: Literal["critical", "error", "warning", "info"] | None = None
    timestamp: WireTime = None
    component: OptText = None
    group: OptText = None
    class_: OptText = Field(default=None, alias="class")
    custom_details: Any = None


def _none_is_empty_list(value: Any) -> Any:
    return [] if value is None else value


class _PDEvent(_Wire):
    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: OptText = None
    payload: _PDPayload | None = None
    client: OptText = None
    client_url: OptText = None
    links: Annotated[list[_PDLink], BeforeValidator(_none_is_empty_list)] = Field(default_factory=list)
    images: Annotated[list[_PDImage], BeforeValidator(_none_is_empty_list)] = Field(default_factory=list)


@dataclass(frozen=True)
class PagerDutyEvent:
    """One Events API v2 event: its batch and the dedup key to answer with."""

    batch: AlertBatch
    dedup_key: str
    # True when the trigger carried no dedup_key and one was made up (the sender learns it from the answer).
    generated_key: bool = False

    @property
    def batches(self) -> list[AlertBatch]:
        return [self.batch]

    def response(self, notes: Sequence[str | None] = ()) -> dict[str, str]:
        """The body of PagerDuty's own 202 answer; a note (an unknown severity) follows its message."""
        message = "; ".join(["Event processed", *(note for note in notes if note)])
        return {"status": "success", "message": message, "dedup_key": self.dedup_key}


_AM_BLOCK = re.compile(r"(Labels|Annotations):\n((?:[ \t]*-[ \t][^\n]*(?:\n|$))+)")
_AM_LINE = re.compile(r"^[ \t]*-[ \t]+([^=\n]+?)[ \t]*=[ \t]?(.*)$", re.MULTILINE)


def _alertmanager_details(custom_details: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) that Alertmanager's default PagerDuty template lists in `custom_details`.

    Its `firing` (or `resolved`) detail holds a `Labels:` and an `Annotations:` block per alert; with
    several alerts, the items they all share.
    """
    if not isinstance(custom_details, Mapping):
        return {}, {}
    text = custom_details.get("firing") or custom_details.get("resolved")
    if not isinstance(text, str):
        return {}, {}
    blocks: dict[str, list[dict[str, str]]] = {"Labels": [], "Annotations": []}
    for block in _AM_BLOCK.finditer(text):
        items = {m.group(1).strip(): m.group(2).strip() for m in _AM_LINE.finditer(block.group(2))}
        if items:
            blocks[block.group(1)].append(items)
    return _common(blocks["Labels"]), _common(blocks["Annotations"])


def _pd_links(event: _PDEvent) -> tuple[str | None, str | None]:
    """(runbook_url, dashboard_url): a link naming a runbook is the runbook, the first other the dashboard."""
    runbook: str | None = None
    dashboard: str | None = None
    for link in event.links:
        if not link.href:
            continue
        if runbook is None and "runbook" in f"{link.text or ''} {link.href}".lower():
            runbook = link.href
        elif dashboard is None:
            dashboard = link.href
    if dashboard is None:
        dashboard = next((image.href for image in event.images if image.href), None)
    return runbook, dashboard


def parse_pagerduty(body: Any, new_key: Callable[[], str] = lambda: uuid4().hex) -> PagerDutyEvent:
    """A PagerDuty Events API v2 event (`POST /v2/enqueue`).

    `trigger` fires, `resolve` resolves and `acknowledge` acknowledges the batch keyed by `dedup_key`.
    Fields become labels: `component`, `group`, `class`, `severity` and `payload.source` as `instance`;
    `component` also gives the `service` label unless there is one. Events sent by Alertmanager's own
    PagerDuty client carry their alerts' labels in `custom_details`; those are read too.
    """
    event = _validate(_PDEvent, body)
    action = event.event_action
    dedup_key = event.dedup_key
    if dedup_key is not None and len(dedup_key) > FINGERPRINT_MAX:
        raise InvalidPayload(f"dedup_key: must be at most {FINGERPRINT_MAX} characters long")
    payload = event.payload
    if action == "trigger":
        if payload is None:
            raise InvalidPayload("payload: is required for a trigger event")
        for name in ("summary", "source", "severity"):
            if getattr(payload, name) is None:
                raise InvalidPayload(f"payload.{name}: is required for a trigger event")
    elif dedup_key is None:
        raise InvalidPayload(
            f"dedup_key: is required for {'an' if action == 'acknowledge' else 'a'} {action} event"
        )
    generated = dedup_key is None
    key = dedup_key if dedup_key is not None else new_key()

    payload = payload or _PDPayload()
    labels: dict[str, str] = {}
    for label, value in (
        ("component", payload.component),
        ("group", payload.group),
        ("class", payload.class_),
        ("severity", payload.severity),
        ("instance", payload.source),
    ):
        if value:
            labels[label] = value
    am_labels, am_annotations = _alertmanager_details(payload.custom_details)
    labels.update(am_labels)
    if "service" not in labels and payload.component:
        labels["service"] = payload.component

    annotations: dict[str, str] = {}
    if isinstance(payload.custom_details, Mapping):
        annotations.update({str(k): _as_text(v) for k, v in payload.custom_details.items()})
    elif payload.custom_details is not None:
        annotations["custom_details"] = _as_text(payload.custom_details)
    summary = _without_status_tag(payload.summary) if payload.summary else None
    if summary:
        annotations["summary"] = summary
    runbook_url, dashboard_url = _pd_links(event)
    runbook_url = runbook_url or am_annotations.get("runbook_url") or am_annotations.get("runbook") or None
    name = labels.get("alertname") or payload.class_ or summary or key

    alert = Alert(
        fingerprint=key,
        status=AlertStatus.RESOLVED if action == "resolve" else AlertStatus.FIRING,
        name=name,
        summary=am_annotations.get("summary") or am_annotations.get("description") or summary or name,
        labels=labels,
        annotations=annotations,
        starts_at=payload.timestamp if action == "trigger" else None,
        generator_url=event.client_url,
        dashboard_url=dashboard_url,
        runbook_url=runbook_url,
        # Alertmanager sends a fixed PagerDuty severity ("error"); its own severity label means more.
        severity_hint=am_labels.get("severity") or payload.severity,
    )
    batch = AlertBatch(
        source=AlertSource.PAGERDUTY,
        group_key=key,
        alerts=[alert],
        action="acknowledge" if action == "acknowledge" else "alert",
        title=summary,
        common_labels=labels,
    )
    return PagerDutyEvent(batch=batch, dedup_key=key, generated_key=generated)


# --- Datadog ---------------------------------------------------------------------------------------


def _tag_list(value: Any) -> Any:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return value.split(",")
    return value


class _DDOrg(_Wire):
    id: OptText = None
    name: OptText = None


def _org(value: Any) -> Any:
    return None if value is None or value == "" else value


class _DDMessage(_Wire):
    # The default template.
    id: OptText = None
    title: OptText = None
    body: OptText = None
    date: EpochTime = None
    last_updated: EpochTime = None
    event_type: OptText = None
    org: Annotated[_DDOrg | None, BeforeValidator(_org)] = None
    # Custom-template variables ($ALERT_ID, $AGGREG_KEY, $ALERT_TRANSITION, ...), by their usual names.
    alert_id: OptText = None
    aggregate_key: OptText = None
    aggreg_key: OptText = None
    aggregate: OptText = None
    alert_transition: OptText = None
    alert_type: OptText = None
    alert_title: OptText = None
    alert_scope: OptText = None
    alert_priority: OptText = None
    priority: OptText = None
    hostname: OptText = None
    tags: Annotated[list[str], BeforeValidator(_tag_list)] = Field(default_factory=list)
    link: OptText = None
    url: OptText = None


_DD_TRANSITIONS = {
    "triggered",
    "re-triggered",
    "recovered",
    "warn",
    "re-warn",
    "no data",
    "re-no data",
    "renotify",
    "re-notify",
}
_DD_TITLE = re.compile(
    r"^\s*(?:\[(?P<prio>P[1-5])\]\s*)?\[(?P<transition>[A-Za-z][A-Za-z -]*?)(?: on (?P<scope>\{[^\]]*\}))?\]"
    r"\s*(?P<name>.*?)\s*$",
    re.DOTALL,
)
_URL = re.compile(r"https?://[^\s()\[\]<>\"']+")
_MENTION_LINE = re.compile(r"^(?:@\S+\s*)+$")


def _scope_labels(scope: str) -> dict[str, str]:
    """`{service:checkout,env:prod}` (or without braces) as labels."""
    inner = scope.strip().removeprefix("{").removesuffix("}")
    return _tag_labels(inner.split(","))


def _tag_labels(tags: Iterable[str]) -> dict[str, str]:
    """`service:checkout` tags as labels; a tag without a value is left out."""
    labels: dict[str, str] = {}
    for tag in tags:
        name, sep, value = tag.strip().partition(":")
        if sep and name.strip() and value.strip():
            labels[name.strip()] = value.strip()
    return labels


def _first_line(body: str) -> str | None:
    """The first line of a Datadog message that says something (no %%% fences, no @mentions, no links)."""
    for raw in body.replace("%%%", "\n").splitlines():
        line = raw.strip()
        if not line or _MENTION_LINE.match(line) or line.startswith(("[[", "[!")):
            continue
        return line[:500]
    return None


def parse_datadog(body: Any) -> list[AlertBatch]:
    """A Datadog webhook (default template, or a custom one using the usual variable names).

    The dedup key is the aggregation key (`aggregate_key`, `aggreg_key` or `aggregate`: `$AGGREG_KEY`) when
    sent, else `alert_id` (`$ALERT_ID`) with the scope, else (the default template has neither) the
    organisation, the monitor name and the scope read from the title (`[Triggered on {service:checkout}]
    Checkout high error rate`), which stay the same from trigger to recovery. `Recovered` (from
    `alert_transition` or the title) or `alert_type: success` resolves; every other transition fires.
    Tags (`$TAGS`, comma-separated `key:value`) and the scope become labels.
    """
    message = _validate(_DDMessage, body)
    title = message.alert_title or message.title
    transition = message.alert_transition
    name = title
    scope = message.alert_scope
    title_prio: str | None = None
    if title:
        found = _DD_TITLE.match(title)
        if found and found.group("transition").strip().lower() in _DD_TRANSITIONS:
            transition = transition or found.group("transition")
            scope = scope or found.group("scope")
            title_prio = found.group("prio")
            name = found.group("name") or title
    if scope is not None:
        scope = scope.strip()
        if scope and not scope.startswith("{"):
            scope = "{" + scope + "}"

    aggregate = message.aggregate_key or message.aggreg_key or message.aggregate
    if aggregate:
        key = aggregate
    elif message.alert_id:
        key = f"{message.alert_id}{'/' + scope if scope else ''}"
    elif name:
        org = message.org.id if message.org is not None and message.org.id else "-"
        key = f"{org}/{name}{'/' + scope if scope else ''}"
    else:
        raise InvalidPayload("title: is required (or alert_id, or aggregate_key) to tell alerts apart")
    key = _bounded(key, FINGERPRINT_MAX)

    resolved = (transition or "").strip().lower() in ("recovered", "recovery") or (
        (message.alert_type or "").strip().lower() == "success"
    )

    labels = _tag_labels(message.tags)
    if scope:
        labels.update(_scope_labels(scope))
    priority = next(
        (
            p.strip().upper()
            for p in (message.alert_priority, message.priority, title_prio)
            if p and re.fullmatch(r"\s*[Pp][1-5]\s*", p)
        ),
        None,
    )
    for label, value in (
        ("host", message.hostname),
        ("alert_type", message.alert_type),
        ("priority", priority),
    ):
        if value:
            labels.setdefault(label, value)

    annotations: dict[str, str] = {}
    for label, value in (
        ("event_type", message.event_type),
        ("transition", transition),
        ("event_id", message.id),
        ("org", message.org.name if message.org is not None else None),
    ):
        if value:
            annotations[label] = value
    text_body = message.body or ""
    if text_body:
        annotations["description"] = text_body
    display = name or key
    summary = _first_line(text_body) or display
    annotations["summary"] = summary
    link = message.link or message.url
    if link is None:
        found_url = _URL.search(text_body)
        link = found_url.group(0) if found_url else None

    alert = Alert(
        fingerprint=key,
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        name=display,
        summary=summary,
        labels=labels,
        annotations=annotations,
        starts_at=None if resolved else message.date,
        ends_at=message.date if resolved else None,
        generator_url=link,
        severity_hint=priority or message.alert_type,
    )
    scope_words = scope.strip("{}") if scope else ""
    return [
        AlertBatch(
            source=AlertSource.DATADOG,
            group_key=key,
            alerts=[alert],
            title=f"{display} on {scope_words}" if scope_words and scope_words != "*" else display,
            common_labels=labels,
        )
    ]


def parse_form(body: bytes) -> dict[str, Any]:
    """An `application/x-www-form-urlencoded` body as the dict a JSON body would have given.

    Either one field `payload=<JSON object>` or plain fields (the last value of a repeated field wins).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("the form body is not UTF-8 text") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=1000)
    except ValueError:
        raise InvalidPayload("the form body has more than 1000 fields") from None
    if set(fields) == {"payload"}:
        try:
            decoded = json_input.loads(fields["payload"][-1])
        except json_input.JsonTooDeep as err:
            raise InvalidPayload(f"payload: {err}") from None
        except ValueError:
            raise InvalidPayload("payload: is not valid JSON") from None
        if not isinstance(decoded, dict):
            raise InvalidPayload("payload: must be a JSON object")
        return decoded
    return {name: values[-1] for name, values in fields.items()}


# --- generic ---------------------------------------------------------------------------------------


class _GenericAlert(_Wire):
    key: str = Field(min_length=1, max_length=FINGERPRINT_MAX)
    status: Literal["firing", "resolved"] = "firing"
    title: OptText = None
    summary: OptText = None
    severity: OptText = None
    service: OptText = None
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    started_at: WireTime = None
    ended_at: WireTime = None
    runbook_url: OptText = None
    dashboard_url: OptText = None
    generator_url: OptText = None


class _GenericGroup(_Wire):
    alerts: list[_GenericAlert] = Field(min_length=1)
    group_key: Annotated[str | None, Field(min_length=1, max_length=GROUP_KEY_MAX)] = None
    title: OptText = None
    labels: Labels | None = None


def _generic_alert(wire: _GenericAlert) -> Alert:
    labels = dict(wire.labels)
    if wire.service:
        labels["service"] = wire.service
    if wire.severity:
        labels.setdefault("severity", wire.severity)
    name = labels.get("alertname") or wire.title or wire.key
    firing = wire.status == "firing"
    return Alert(
        fingerprint=wire.key,
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        name=name,
        summary=wire.summary or wire.title or name,
        labels=labels,
        annotations=wire.annotations,
        starts_at=wire.started_at,
        ends_at=None if firing else wire.ended_at,
        generator_url=wire.generator_url,
        dashboard_url=wire.dashboard_url,
        runbook_url=wire.runbook_url or wire.annotations.get("runbook_url") or None,
        severity_hint=wire.severity or labels.get("severity") or None,
    )


def parse_generic(body: Any) -> list[AlertBatch]:
    """sevflow's generic JSON format (see the module docstring): one alert, or several."""
    if isinstance(body, Mapping) and "alerts" in body:
        group = _validate(_GenericGroup, body)
        pairs = [(wire, _generic_alert(wire)) for wire in group.alerts]
        if group.group_key is None:
            return [_generic_single(wire, alert) for wire, alert in pairs]
        alerts = [alert for _, alert in pairs]
        first_wire, first = pairs[0]
        common = group.labels if group.labels is not None else _common([a.labels for a in alerts])
        return [
            AlertBatch(
                source=AlertSource.GENERIC,
                group_key=group.group_key,
                alerts=alerts,
                title=group.title or first_wire.title or first.name,
                common_labels=common,
            )
        ]
    wire = _validate(_GenericAlert, body)
    return [_generic_single(wire, _generic_alert(wire))]


def _generic_single(wire: _GenericAlert, alert: Alert) -> AlertBatch:
    """One alert as its own incident, keyed by the alert's key."""
    return AlertBatch(
        source=AlertSource.GENERIC,
        group_key=alert.fingerprint,
        alerts=[alert],
        title=wire.title or alert.name,
        common_labels=alert.labels,
    )

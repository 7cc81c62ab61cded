"""Whatever JSON a sender posts, the parsers answer with batches or InvalidPayload, never anything else.

The endpoint turns InvalidPayload into a 400; any other exception would be a 500, which senders retry.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevflow.alerts.models import AlertBatch
from sevflow.alerts.parsers import (
    InvalidPayload,
    parse_alertmanager,
    parse_datadog,
    parse_form,
    parse_generic,
    parse_grafana,
    parse_pagerduty,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alerts"

text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\x00"]), max_size=30)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
    | st.sampled_from(
        [
            "",
            "firing",
            "resolved",
            "trigger",
            "acknowledge",
            "resolve",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+01:00",
            "2026-11-23T11:00:00Z",
            "99999999999999999999",
            "1795431600000",
            "[Recovered on {a:b}] x",
            "...",
        ]
    )
)
json_ish = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=5),
    max_leaves=25,
)

KEYS = [
    "version",
    "groupKey",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
    "title",
    "dashboardURL",
    "panelURL",
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
    "links",
    "images",
    "href",
    "client_url",
    "id",
    "date",
    "org",
    "body",
    "alert_id",
    "alert_transition",
    "alert_type",
    "aggregate_key",
    "tags",
    "alert_scope",
    "priority",
    "key",
    "group_key",
    "started_at",
    "service",
]
known_keys = st.sampled_from(KEYS)
shaped = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(known_keys | text, children, max_size=6)
    ),
    max_leaves=30,
)

PARSERS: list[Callable[[Any], object]] = [
    lambda body: parse_alertmanager(body, None),
    lambda body: parse_alertmanager(body, ["instance", "..."]),
    lambda body: parse_grafana(body, None),
    lambda body: parse_grafana(body, ["service"]),
    parse_pagerduty,
    parse_datadog,
    parse_generic,
]


def survives(body: Any) -> None:
    for parse in PARSERS:
        try:
            result = parse(copy.deepcopy(body))
        except InvalidPayload as exc:
            assert str(exc)
            assert "\n" not in str(exc)
            continue
        batches = result if isinstance(result, list) else [result.batch]  # type: ignore[attr-defined]
        assert batches and all(isinstance(b, AlertBatch) for b in batches)
        for batch in batches:  # what the endpoint stores and hands to Temporal must serialise
            assert AlertBatch.model_validate_json(batch.model_dump_json()) == batch


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_ish)
def test_arbitrary_json(body: Any) -> None:
    survives(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shaped)
def test_json_with_the_senders_keys(body: Any) -> None:
    survives(body)


def mutations(name: str) -> st.SearchStrategy[Any]:
    """A real fixture with one value somewhere replaced by arbitrary JSON."""
    original = json.loads((FIXTURES / name).read_text())

    def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = [prefix]
        if isinstance(value, dict):
            for key, item in value.items():
                found += paths(item, (*prefix, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                found += paths(item, (*prefix, index))
        return found

    def replace(path: tuple[Any, ...], new: Any) -> Any:
        body = copy.deepcopy(original)
        if not path:
            return new
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = new
        return body

    return st.builds(replace, st.sampled_from(paths(original)), json_ish)


FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.endswith(".headers.json"))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_NAMES).flatmap(mutations))
def test_mutated_fixtures(body: Any) -> None:
    survives(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_form_bodies(raw: bytes) -> None:
    try:
        decoded = parse_form(raw)
    except InvalidPayload:
        return
    assert isinstance(decoded, dict)
    survives(decoded)

"""Noise you can act on: the alert groups nobody acted on in a period, and the routing rule for each.

An alert group nobody acted on opened incidents in the period and every one of them ended without a
person: it cleared with nobody acknowledging it, or someone closed it as noise. (One acknowledged or
merged incident means someone cared: the group is not listed.) For each the report writes the
`routing.routes` entry that would stop it interrupting anyone, matching the labels the routing table
saw on its newest content:

- `drop: true` when every incident was closed as noise, or it already came in at SEV4: nobody
  needs to see it;
- `severity: SEV4` otherwise: it stays on record (dashboard, metrics) but pages nobody.

Pure: the store's aggregate comes in (sevflow.store.noise_reads), the report goes out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

import yaml
from pydantic import BaseModel

from sevflow.config.schema import Matcher, RouteRule
from sevflow.policy import Severity
from sevflow.store.noise_reads import AlertGroupOutcomes

# The labels that name what an alert is, in the order the rule lists them; `source` always comes
# first. When a group carries none of them, the rule matches all its labels (exactly this group).
IDENTITY_LABELS = ("alertname", "service")
RULE_NAME_MAX = 80

Suggestion = Literal["drop", "downgrade"]


class NoisyGroup(BaseModel):
    source: str | None
    group_key: str | None
    alert_name: str | None
    service: str
    most_severe: str
    incidents: int
    cleared_unacknowledged: int
    closed_as_noise: int
    deliveries: int
    suggestion: Suggestion
    # The routes entry to paste at the top of `routing.routes` (YAML, one list item); None when the
    # store holds no labels for the group, and `note` says why.
    rule: str | None
    note: str | None = None

    @property
    def unacted(self) -> int:
        return self.cleared_unacknowledged + self.closed_as_noise


class NoiseReport(BaseModel):
    since: datetime
    until: datetime
    # Alert groups with an incident in the period, and how many of them nobody acted on.
    alert_groups: int
    groups: list[NoisyGroup]


def noise_report(outcomes: Iterable[AlertGroupOutcomes], since: datetime, until: datetime) -> NoiseReport:
    """The groups nobody acted on, most unacted incidents first (then most deliveries)."""
    every = list(outcomes)
    groups = [
        _noisy(o) for o in every if o.acted_on == 0 and o.cleared_unacknowledged + o.closed_as_noise > 0
    ]
    groups.sort(key=lambda g: (-g.unacted, -g.deliveries, g.source or "", g.group_key or ""))
    return NoiseReport(since=since, until=until, alert_groups=len(every), groups=groups)


def suggestion_for(outcome: AlertGroupOutcomes) -> Suggestion:
    all_noise = outcome.closed_as_noise == outcome.incidents
    return "drop" if all_noise or outcome.most_severe == Severity.SEV4.value else "downgrade"


def _noisy(outcome: AlertGroupOutcomes) -> NoisyGroup:
    suggestion = suggestion_for(outcome)
    rule, note = None, None
    if outcome.labels is None:
        note = "no labels stored for it (last delivered before sevflow kept them): rerun once it fires"
    else:
        built = suggested_rule(outcome.labels, suggestion, outcome.alert_name or outcome.group_key or "")
        if built is None:
            note = "its alerts carry no label but `source` to match on: add one at the sender"
        else:
            rule = rule_yaml(built)
    return NoisyGroup(
        source=outcome.source,
        group_key=outcome.group_key,
        alert_name=outcome.alert_name,
        service=outcome.service,
        most_severe=outcome.most_severe,
        incidents=outcome.incidents,
        cleared_unacknowledged=outcome.cleared_unacknowledged,
        closed_as_noise=outcome.closed_as_noise,
        deliveries=outcome.deliveries,
        suggestion=suggestion,
        rule=rule,
        note=note,
    )


def suggested_rule(labels: Mapping[str, str], suggestion: Suggestion, what: str) -> RouteRule | None:
    """The route matching `labels` (the routing table's view of the group) that drops or downgrades
    it: `source` and the identity labels it has, else all its labels. Labels whose names a matcher
    cannot spell are left out; None when nothing but `source` is left to match."""
    usable = {name: value for name, value in labels.items() if _spellable(name)}
    names = [name for name in IDENTITY_LABELS if name in usable]
    if not names:
        names = sorted(name for name in usable if name != "source")
    if not names:
        return None
    if "source" in usable:
        names.insert(0, "source")
    source = labels.get("source")
    name = f"noise: {what}" + (f" ({source})" if source else "")
    if len(name) > RULE_NAME_MAX:
        name = name[: RULE_NAME_MAX - 1] + "…"
    outputs: dict[str, object] = {"drop": True} if suggestion == "drop" else {"severity": Severity.SEV4.value}
    return RouteRule.model_validate(
        {"name": name, "match": [str(Matcher(name=n, op="=", value=usable[n])) for n in names], **outputs}
    )


def _spellable(name: str) -> bool:
    try:
        Matcher.parse(f'{name}=""')
    except ValueError:
        return False
    return True


def _matcher_text(matcher: Matcher) -> str:
    """`name="value"`, the value JSON-quoted as Matcher.parse reads it, with characters that are no
    text to read (controls, line separators that YAML would take for line breaks) as \\u escapes."""
    quoted = json.dumps(matcher.value, ensure_ascii=False)
    shown = "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in quoted)
    return f"{matcher.name}{matcher.op}{shown}"


def rule_yaml(rule: RouteRule) -> str:
    """The rule as one item of `routing.routes`, as sevflow.yaml is written (matchers in a flow list)."""
    entry: dict[str, object] = {"name": rule.name, "match": [_matcher_text(m) for m in rule.match]}
    if rule.drop:
        entry["drop"] = True
    if rule.severity is not None:
        entry["severity"] = rule.severity
    return yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, default_flow_style=None, width=10_000)

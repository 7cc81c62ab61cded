"""`/incident declare` reads a severity as every other surface does (issue 14, item 8). Found from a
fresh clone: `/incident declare "checkout down" critical` declared a SEV2 titled "checkout down
critical", and `sev-1` (README: "sevN, sev-N and N work for every level") became part of the title
too, while `/incident sev INC-7 critical` was SEV1."""

from __future__ import annotations

import pytest

from sevflow.policy import Severity as S
from sevflow.slack.commands import parse_command
from sevflow.slack.intents import CommandError, DeclareIntent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('declare "checkout down" critical', DeclareIntent(title="checkout down", severity=S.SEV1)),
        ('declare "checkout down" emergency', DeclareIntent(title="checkout down", severity=S.SEV0)),
        (
            'declare "checkout down" Major service:checkout',
            DeclareIntent(title="checkout down", severity=S.SEV2, service="checkout"),
        ),
        ('declare "checkout down" p3', DeclareIntent(title="checkout down", severity=S.SEV3)),
        ('declare "checkout down" sev-1', DeclareIntent(title="checkout down", severity=S.SEV1)),
        ("declare checkout down sev-1", DeclareIntent(title="checkout down", severity=S.SEV1)),
        ("declare checkout down SEV_4", DeclareIntent(title="checkout down", severity=S.SEV4)),
        # An unquoted title keeps its words: only SEVn is a severity there.
        ("declare checkout critical path slow", DeclareIntent(title="checkout critical path slow")),
        ("declare db down on 2 hosts", DeclareIntent(title="db down on 2 hosts")),
        # A word outside the table stays in the title, as before.
        ('declare "checkout down" urgent', DeclareIntent(title="checkout down urgent")),
    ],
)
def test_a_declaration_reads_the_severity_table(text: str, expected: DeclareIntent) -> None:
    assert parse_command(text) == expected


def test_the_severity_once_and_known() -> None:
    with pytest.raises(CommandError, match="severity once"):
        parse_command('declare "checkout down" critical sev2')
    with pytest.raises(CommandError, match="unknown severity"):
        parse_command('declare "checkout down" sev-9')

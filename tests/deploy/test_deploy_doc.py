"""docs/DEPLOY.md names real things: the patches it quotes are in workflows/incident.py, the commands and
scenarios of its upgrade recipe exist, and the README links to it. (The services and settings tables are
compared with docker-compose.yml in test_compose.py.)
"""

from __future__ import annotations

import re

import pytest

from tests.deploy.support import DEPLOY_DOC, ROOT
from tests.replay import record
from workflows import incident

INCIDENT_SOURCE = (ROOT / "workflows" / "incident.py").read_text()


@pytest.fixture(scope="module")
def doc() -> str:
    return DEPLOY_DOC.read_text()


@pytest.mark.parametrize("constant", ["PAGING_PATCH", "POSTMORTEM_PATCH"])
def test_the_patches_it_quotes_are_the_real_ones(doc: str, constant: str) -> None:
    value = getattr(incident, constant)
    assert f'{constant} = "{value}"' in doc, f"docs/DEPLOY.md quotes another {constant}"
    assert f"workflow.patched({constant})" in INCIDENT_SOURCE and f"workflow.patched({constant})" in doc


def test_the_scenarios_it_names_can_be_recorded(doc: str) -> None:
    recipe = re.search(r"--only SCENARIO` records one \(([^)]*)\)", doc)
    assert recipe, "the `--only SCENARIO` line of docs/DEPLOY.md"
    named = set(re.findall(r"`([a-z0-9_]+)`", recipe.group(1)))
    assert named == {scenario.__name__ for scenario in record.SCENARIOS}
    parser_help = (ROOT / "tests" / "replay" / "record.py").read_text()
    assert '"--only"' in parser_help
    assert "python -m tests.replay.record --only SCENARIO" in doc


def test_the_commands_it_names_exist(doc: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"`make ([a-z-]+)", doc):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"no `make {target}`"
    assert "check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml" in makefile


def test_the_kept_old_shapes_it_cites_are_there(doc: str) -> None:
    histories = ROOT / "tests" / "histories"
    cited = set(re.findall(r"`([a-z0-9-]+\.v1\.json)`", doc))
    assert cited, "docs/DEPLOY.md cites the .v1 histories"
    for name in cited:
        assert (histories / name).is_file(), name


def test_the_readme_links_it() -> None:
    assert "(docs/DEPLOY.md)" in (ROOT / "README.md").read_text()

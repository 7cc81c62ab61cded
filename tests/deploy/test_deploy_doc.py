"""docs/DEPLOY.md names real things: its patch example is on code in workflows/incident.py, the commands and
scenarios of its upgrade recipe exist, and the README links to it. (The services and settings tables are
compared with docker-compose.yml in test_compose.py.)
"""

from __future__ import annotations

import re

import pytest

from sevflow import policy
from tests.deploy.support import DEPLOY_DOC, ROOT
from tests.replay import record

# The incident workflow, with the register it runs (its paging condition lives there).
INCIDENT_SOURCE = "\n".join(
    (ROOT / "workflows" / name).read_text() for name in ("incident.py", "incident_register.py")
)


@pytest.fixture(scope="module")
def doc() -> str:
    return DEPLOY_DOC.read_text()


def test_its_patch_example_names_code_that_exists(doc: str) -> None:
    """The example is of a patch the code no longer needs (before 1.0 it carries none), on a call that
    is real: the paging condition and the escalation start it guards."""
    assert "workflow.patched" not in INCIDENT_SOURCE
    assert "s.status is Status.DETECTED and s.policy.page in WAKING_PAGE_MODES" in INCIDENT_SOURCE
    assert "await start_escalation(self.state)" in INCIDENT_SOURCE
    assert "WAKING_PAGE_MODES" in doc and hasattr(policy, "WAKING_PAGE_MODES")


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


def test_the_histories_it_cites_are_there(doc: str) -> None:
    histories = ROOT / "tests" / "histories"
    cited = set(re.findall(r"`tests/histories/([a-z0-9.-]+\.json)`", doc)) | set(
        re.findall(r"`([a-z0-9-]+(?:\.[a-z0-9-]+)*\.json)`", doc)
    )
    # The recipe's example of a renamed old shape is the only file that need not exist before 1.0.
    cited.discard("sev1-lifecycle.v1.json")
    for name in cited:
        assert (histories / name).is_file(), name
    assert "(tests/histories/README.md)" in doc or "tests/histories/README.md" in doc


def test_the_readme_links_it() -> None:
    assert "(docs/DEPLOY.md)" in (ROOT / "README.md").read_text()

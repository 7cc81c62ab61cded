"""`sevflow link N --repeat-of M` end to end: the console script and a worker process against the dev
server (issue 15). Every bad link is one line on stderr."""

from __future__ import annotations

import pytest

from tests.integration.processes import Sevflow
from tests.integration.test_cli_lifecycle import sevflow  # noqa: F401 (the fixture)


# Eleven CLI processes, each importing the SDK: about 40 s on the shared 2-core machine.
@pytest.mark.timeout(120)
def test_link_marks_a_repeat_and_bad_links_are_one_line(sevflow: Sevflow) -> None:  # noqa: F811
    def declare(title: str) -> str:
        return sevflow.run(
            "declare", "--title", title, "--service", "search", "--severity", "SEV3", "--lead", "alice"
        ).stdout.strip()

    first, again = declare("search slow"), declare("search slow again")
    linked = sevflow.run("link", again, "--repeat-of", first, "--by", "alice", "--idempotency-key", "k-1")
    assert linked.stdout.strip() == f"{again} marked as a repeat of {first}"
    shown = sevflow.json("show", again)
    assert shown["repeat_of"] == int(first.removeprefix("INC-"))
    assert shown["timeline"][-1]["text"] == f"{again} marked as a repeat of {first} by alice"
    metrics = sevflow.json("metrics", "--since", "1d")
    assert (metrics["repeat_incidents"], metrics["repeat_rate"]) == (1, 0.5)

    def refused(*args: str) -> tuple[int, str]:
        result = sevflow.run("link", *args, check=False)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
        return result.returncode, result.stderr.strip()

    assert refused(again, "--repeat-of", again, "--by", "alice") == (
        1,
        f"error: {again} cannot be a repeat of itself",
    )
    assert refused(first, "--repeat-of", again, "--by", "alice") == (
        1,
        f"error: {first} cannot repeat {again}, which came after it: mark {again} as a repeat of "
        f"{first} instead",
    )
    assert refused(again, "--repeat-of", "INC-9999", "--by", "alice") == (1, "error: INC-9999 does not exist")
    assert refused(again, "--repeat-of", "INC-0") == (
        2,
        "error: 'INC-0' is not an incident number: numbers start at INC-1",
    )
    code, line = refused(again, "--repeat-of", "INC-99999999999")
    assert code == 2 and "is not an incident number" in line

    unlinked = sevflow.run("link", again, "--repeat-of", "none", "--by", "alice")
    assert unlinked.stdout.strip() == f"{again} is no longer marked as a repeat"
    assert sevflow.json("show", again)["repeat_of"] is None

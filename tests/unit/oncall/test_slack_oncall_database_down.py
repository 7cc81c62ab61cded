"""`/oncall` from Slack while sevflow's database does not answer: a sentence for the person, never a 500
(the Slack request would show "dispatch_failed" and nothing else)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.exc import OperationalError

from starter.oncall import OnCallService
from starter.slack_oncall import answer_oncall

LOCKED = OperationalError("UPDATE counters ...", {}, Exception("database is locked"))


class DatabaseDown:
    """An OnCallService whose every store call fails as a locked SQLite database does."""

    def __getattr__(self, name: str) -> Any:
        def fails(*args: Any, **kwargs: Any) -> Any:
            raise LOCKED

        return fails


def test_a_list_with_the_database_down_says_so() -> None:
    said = answer_oncall(cast(OnCallService, DatabaseDown()), "list", "U0CAROL")
    assert said == (
        "Not done: sevflow's database did not answer (database is locked). Look with `/oncall list` "
        "before trying again."
    )


def test_a_cover_with_the_database_down_says_so() -> None:
    said = answer_oncall(cast(OnCallService, DatabaseDown()), "cover @bob 2h dentist", "U0CAROL")
    assert said.startswith("Not done: sevflow's database did not answer (database is locked)."), said

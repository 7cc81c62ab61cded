"""Action items: when they are due, and the Jira project they become issues in."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sevflow.config.schema.fields import PositiveDuration


class JiraConfig(BaseModel):
    """The `jira` section: where action items (and optionally postmortems) become issues. The site
    and credentials come from the environment (SEVFLOW_JIRA_URL, SEVFLOW_JIRA_EMAIL,
    SEVFLOW_JIRA_API_TOKEN), never from this file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,49}$")]
    issue_type: str = "Task"
    # Also open an issue for each postmortem (owner, due date), beside its action items.
    postmortem_issues: bool = False
    labels: tuple[str, ...] = ("sevflow",)


class ActionItemsConfig(BaseModel):
    """The `action_items` section. `default_due_after`: how long after it is written an action item of a
    published postmortem that names no `due:` is due (moved on to the owner's next business day, so a
    deadline never lands on a weekend or a holiday of the configured calendar)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_due_after: PositiveDuration = timedelta(days=14)

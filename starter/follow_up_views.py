"""Action items and postmortems as the CLI's `--json` and the HTTP API show them: flat records with the
incident's label, stable field names, nothing of the chase's internals."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from sevflow.action_items.models import ActionItemChange, ActionItemStatus
from sevflow.postmortem.checks import PublishCheck

if TYPE_CHECKING:
    # Only named in annotations: importing the store (SQLAlchemy) here would slow every `sevflow`
    # command, which imports these views (see tests/unit/test_cli_imports.py).
    from sevflow.store.repository import StoredActionItem, StoredPostmortem


class ActionItemView(BaseModel):
    id: str = Field(examples=["INC-7-1a2b3c4d"])
    incident: str = Field(examples=["INC-7"])
    incident_number: int
    title: str
    owner: str
    due: date
    status: ActionItemStatus
    ticket_key: str | None = None
    created_at: datetime
    created_by: str | None = None
    reminders_sent: int = 0
    escalations: int = 0
    snoozed_until: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    on_time: bool | None = None
    changes: list[ActionItemChange] = Field(default_factory=list)
    team: str | None = None
    drill: bool = False
    workflow_id: str

    @classmethod
    def of(cls, stored: StoredActionItem) -> ActionItemView:
        item = stored.item
        return cls(
            id=item.id,
            incident=item.incident_label,
            incident_number=item.incident_number,
            title=item.title,
            owner=item.owner,
            due=item.due,
            status=item.status,
            ticket_key=item.ticket_key,
            created_at=item.created_at,
            created_by=item.created_by,
            reminders_sent=item.reminders_sent,
            escalations=item.escalations,
            snoozed_until=item.snoozed_until,
            closed_at=item.closed_at,
            closed_by=item.closed_by,
            on_time=item.on_time,
            changes=list(item.changes),
            team=stored.team,
            drill=stored.drill,
            workflow_id=stored.workflow_id,
        )


class PostmortemView(BaseModel):
    incident: str = Field(examples=["INC-7"])
    incident_number: int
    owner: str | None = None
    status: str = Field(description="scheduled, draft or published", examples=["draft"])
    due_at: datetime
    review_at: datetime | None = None
    ticket_key: str | None = None
    reminders_sent: int = 0
    escalations: int = 0
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    published_by: str | None = None
    on_time: bool | None = None
    document: str = Field(description="The postmortem as markdown")

    @classmethod
    def of(cls, stored: StoredPostmortem) -> PostmortemView:
        return cls(incident=f"INC-{stored.incident_number}", **stored.model_dump())


class ProblemView(BaseModel):
    code: str = Field(examples=["missing_section"])
    subject: str = Field(description="The section or the action item it is about", examples=["Summary"])
    message: str


class ParsedItemView(BaseModel):
    title: str
    owner: str | None = None
    due: date | None = None
    done: bool = False


class CheckView(BaseModel):
    """Whether the postmortem may be published, and if not every problem, each naming what is missing."""

    incident: str
    ok: bool
    missing: list[str]
    problems: list[ProblemView]
    message: str
    action_items: list[ParsedItemView]

    @classmethod
    def of(cls, number: int, check: PublishCheck) -> CheckView:
        return cls(
            incident=f"INC-{number}",
            ok=check.ok,
            missing=check.missing,
            problems=[ProblemView(code=p.code, subject=p.subject, message=p.message) for p in check.problems],
            message=check.message(),
            action_items=[
                ParsedItemView(title=i.title, owner=i.owner, due=i.due, done=i.done)
                for i in check.action_items
            ],
        )

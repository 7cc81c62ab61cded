"""The incident's follow-through, as the incident workflow runs it: the postmortem's next reminder
(on the owner's business calendar, whose holidays an activity resolves), its issue in the tracker,
and the chase of each action item (a child that outlives the incident, ABANDON)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.failures import cause_of
from workflows.holidays import with_holidays
from workflows.options import (
    POSTMORTEM_TICKET_GIVE_UP_AFTER,
    STORE_RETRY,
    STORE_RETRY_UNLESS_REFUSED,
    STORE_TIMEOUT,
    TICKET_RETRY,
    TICKET_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from sevflow.action_items.chase import ActionItemChase, ChaseNow, PrepareActionItem
    from sevflow.action_items.models import ActionItem
    from sevflow.action_items.reminders import POSTMORTEM_PLAN, Reminder, next_chase
    from sevflow.calendar import BusinessCalendar
    from sevflow.contracts import (
        ENSURE_POSTMORTEM_TICKET,
        PLAN_POSTMORTEM,
        PREPARE_ACTION_ITEM,
        PUBLISH_POSTMORTEM,
        PlanPostmortem,
        PostmortemPlan,
        Published,
        PublishRequest,
    )
    from sevflow.incident.effects import Refused
    from sevflow.incident.models import IncidentState, Status

    # Only named here: its runs import their module in sandboxes of their own.
    from workflows.action_item import ActionItemWorkflow, chase_workflow_id


async def plan_postmortem(s: IncidentState, lead_requested: bool) -> PostmortemPlan:
    """Whether the incident needs a postmortem, its owner, due date and the items to chase again."""
    plan: PostmortemPlan = await workflow.execute_activity(
        PLAN_POSTMORTEM,
        PlanPostmortem(state=s.snapshot(), lead_requested=lead_requested),
        result_type=PostmortemPlan,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=STORE_RETRY,
    )
    return plan


async def publish_postmortem(number: int, by: str) -> Published:
    """Publish the incident's postmortem as `by`: its action items to start, or Refused with what the
    document still lacks."""
    try:
        published: Published = await workflow.execute_activity(
            PUBLISH_POSTMORTEM,
            PublishRequest(incident_number=number, by=by),
            result_type=Published,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY_UNLESS_REFUSED,
        )
    except ActivityError as err:
        raise Refused(cause_of(err), "PostmortemIncomplete") from err
    return published


async def postmortem_reminder(s: IncidentState) -> Reminder | None:
    """The postmortem's next reminder, while it is chased. Holidays travel as dates; a year the chase's
    calendar lacks is resolved by an activity and kept on the chase."""
    chase = s.postmortem
    if chase is None or s.status is not Status.POSTMORTEM:
        return None
    now, before = workflow.now(), chase.calendar

    def plan(calendar: BusinessCalendar) -> Reminder:
        return next_chase(
            due=calendar.local(chase.due_at).date(),
            created_at=s.resolved_at or chase.due_at,
            now=now,
            calendar=calendar,
            last_reminder_at=chase.last_reminder_at,
            overdue_reminders=chase.overdue_reminders,
            plan=POSTMORTEM_PLAN,
            key=s.workflow_id,
        )

    reminder, calendar = await with_holidays(before, plan)
    if chase.calendar is before:
        chase.calendar = calendar
    return reminder


async def file_postmortem_ticket(number: int, label: str) -> None:
    """The postmortem's issue in the tracker, beside the timers: a tracker outage delays only it."""
    try:
        await workflow.execute_activity(
            ENSURE_POSTMORTEM_TICKET,
            number,
            start_to_close_timeout=TICKET_TIMEOUT,
            schedule_to_close_timeout=POSTMORTEM_TICKET_GIVE_UP_AFTER,
            retry_policy=TICKET_RETRY,
        )
    except ActivityError as err:
        workflow.logger.warning("no postmortem issue for %s: %s", label, err.cause)


async def start_chase(
    s: IncidentState, title: str, owner: str, due: date | None, by: str
) -> ActionItem | None:
    """Prepare the item from the config and start its chase; None when the incident already has it
    (the same item added twice is one chase). An item the config refuses raises Refused."""
    request = PrepareActionItem(
        incident_number=s.number or 0,
        incident_title=s.title,
        incident_workflow_id=s.workflow_id,
        service=s.service,
        team=s.team,
        lead=s.lead,
        drill=s.drill,
        title=title,
        owner=owner,
        due=due,
        created_at=workflow.now(),
        created_by=by,
    )
    try:
        chase: ActionItemChase = await workflow.execute_activity(
            PREPARE_ACTION_ITEM,
            request,
            result_type=ActionItemChase,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY_UNLESS_REFUSED,
        )
    except ActivityError as err:
        raise Refused(cause_of(err)) from err
    if chase.item.id in s.action_items:
        return None
    try:
        await workflow.start_child_workflow(
            ActionItemWorkflow.run,
            chase,
            id=chase.workflow_id,
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("action item %s is already being chased", chase.item.id)
    return chase.item


async def chase_now(item_ids: Sequence[str], reason: str) -> None:
    """Remind the owners of these open items at once (a repeat found them still open)."""
    for item_id in item_ids:
        handle = workflow.get_external_workflow_handle(chase_workflow_id(item_id))
        try:
            await handle.signal(ActionItemWorkflow.chase_now, ChaseNow(reason=reason))
        except FailureError as err:
            workflow.logger.info("could not chase %s: %s", item_id, err)

"""AlertGroupWorkflow: one per sender and group key; turns alert deliveries into one open incident.

Deliveries arrive by signal-with-start on the group's workflow id, so however many arrive at once they
meet in one workflow: the first firing alert opens the incident (a child that outlives the group),
later changes are forwarded to it, and once the incident has resolved a newly firing alert opens a new
one, which the store marks as a repeat.
"""

# No `from __future__ import annotations`: workflow.defn resolves the handlers' hints at each
# sandboxed import, and string annotations cost a ForwardRef evaluation each.

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sevflow.alerts import group as decide
    from sevflow.alerts.models import (
        AlertAcknowledged,
        AlertDelivery,
        AlertGroupState,
        AlertStatus,
        IncidentStatusChanged,
    )
    from sevflow.incident.models import new_incident_state
    from workflows.incident import IncidentWorkflow

# With nothing open and nothing firing the group has no more to do; a later delivery starts a new run.
IDLE_BEFORE_CLOSE = timedelta(minutes=10)


@workflow.defn
class AlertGroupWorkflow:
    @workflow.init
    def __init__(self, state: AlertGroupState) -> None:
        self.state = state

    @workflow.run
    async def run(self, state: AlertGroupState) -> AlertGroupState:
        while True:
            if self.state.refire:
                await self._carry_out(decide.refired(self.state))
            elif self.state.pending:
                await self._process(self.state.pending.pop(0))
            elif self._finished():
                try:
                    await workflow.wait_condition(lambda: bool(self.state.pending), timeout=IDLE_BEFORE_CLOSE)
                except TimeoutError:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if not self.state.pending:
                        return self.state
            else:
                await workflow.wait_condition(
                    lambda: bool(self.state.pending) or self.state.refire or self._finished()
                )
            # Not while deliveries wait: each may be up to 512 KiB, and the new run's input carries them.
            if workflow.info().is_continue_as_new_suggested() and not self.state.pending:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.state)

    def _finished(self) -> bool:
        s = self.state
        return not s.incident_open and s.firing == 0 and not s.pending and not s.refire

    async def _process(self, delivery: AlertDelivery) -> None:
        await self._carry_out(decide.delivered(self.state, delivery))

    async def _carry_out(self, step: decide.GroupStep) -> None:
        self.state = step.state
        s = self.state
        if step.note is not None:
            workflow.logger.warning("%s: %s", s.workflow_id, step.note)
        if step.open_from is not None:
            await self._open_incident(step.open_from)
        elif s.incident_workflow_id is not None:
            incident = self._incident(s.incident_workflow_id)
            if step.acknowledged_by is not None:
                ack = AlertAcknowledged(by=step.acknowledged_by)
                await incident.signal(IncidentWorkflow.alert_acknowledged, ack)
            if step.forward is not None:
                await incident.signal(IncidentWorkflow.alerts_changed, step.forward)

    async def _open_incident(self, delivery: AlertDelivery) -> None:
        s = self.state
        batch, route = delivery.batch, delivery.route
        firing = [a for a in batch.alerts if a.status is AlertStatus.FIRING]
        if not firing:
            workflow.logger.warning("%s: no firing alert to open an incident from", s.workflow_id)
            return
        first = firing[0]
        starts = [a.starts_at for a in firing if a.starts_at is not None]
        s.incidents_opened += 1
        # Unique, not numbered: a later run of this group (after it went idle) must not collide with
        # an incident of an earlier run that is still open for its postmortem.
        incident_id = f"{s.workflow_id}/incident-{workflow.uuid4()}"
        state = new_incident_state(
            incident_id,
            title=batch.title or first.summary or first.name,
            service=route.service,
            severity=route.severity,
            policies=delivery.policies,
            team=route.team,
            declared_by=f"{batch.source.value} alert",
            started_at=min(starts) if starts else None,
            runbook_url=next((a.runbook_url for a in firing if a.runbook_url), None),
            fingerprint=workflow_fingerprint(s),
        )
        state.chat = delivery.chat
        state.access = delivery.access
        state.alert_name = first.name
        state.severity_note = route.severity_note
        state.alert_group_id = s.workflow_id
        state.alert_count = len(s.alerts)
        state.alerts_firing = s.firing
        state.deliveries = s.deliveries
        state.dashboard_url = next((a.dashboard_url for a in firing if a.dashboard_url), None)
        state.generator_url = next((a.generator_url for a in firing if a.generator_url), None)
        await workflow.start_child_workflow(
            IncidentWorkflow.run,
            state,
            id=incident_id,
            # The incident (and its postmortem and action items) outlives the alerts that opened it.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        # The state as it is now: a status may have come in while the child started.
        self.state = decide.incident_opened(self.state, incident_id)

    def _incident(self, workflow_id: str) -> workflow.ExternalWorkflowHandle[IncidentWorkflow]:
        return workflow.get_external_workflow_handle_for(IncidentWorkflow.run, workflow_id)

    @workflow.signal
    def deliver(self, delivery: AlertDelivery) -> None:
        self.state.pending.append(delivery)

    @workflow.signal
    def incident_status(self, change: IncidentStatusChanged) -> None:
        self.state = decide.incident_status(self.state, change)

    @workflow.query
    def get_state(self) -> AlertGroupState:
        return self.state


def workflow_fingerprint(state: AlertGroupState) -> str:
    """The incident's fingerprint: stable per sender and group, short enough for an index."""
    return state.workflow_id.removeprefix("alertgroup-")[:255]

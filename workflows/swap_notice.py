"""SwapNoticeWorkflow: one per swap asked and per swap confirmed, telling the person concerned.

Started by whoever saved the change (starter/handoff_signals.py, for every surface), with the id
`swap-notice-<change id>-<asked|confirmed>-<when the change was made>` and a policy that makes any
later start of that id a no-op: however many processes or retries start it, the person gets one
message. It runs one activity,
`send_swap_notice`, which reads the change again and sends nothing when it is no longer in the state the
notice is about (sevflow/oncall/swap_notice.py). A chat backend that refuses for good or stays down for
`SWAP_NOTICE_GIVE_UP_AFTER` ends it with `failed` and the reason: the swap stands either way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.failures import cause_of
from workflows.options import SWAP_NOTICE_GIVE_UP_AFTER, SWAP_NOTICE_RETRY, SWAP_NOTICE_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import SEND_SWAP_NOTICE, SwapEvent, SwapNoticeResult, SwapNoticeRun


def swap_notice_workflow_id(change_id: int, event: SwapEvent, created_at: datetime) -> str:
    """The one SwapNoticeWorkflow of `event` for change `change_id` made at `created_at` (the `swap-notice-`
    prefix is sevflow's in its namespace). The time tells apart two changes of one number in one
    namespace, which a database made afresh (a test's, a reset `sevflow up`) gives: without it, the
    second would find the first's notice done, and nobody would be told."""
    return f"swap-notice-{change_id}-{event}-{created_at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"


@workflow.defn
class SwapNoticeWorkflow:
    @workflow.run
    async def run(self, run: SwapNoticeRun) -> SwapNoticeResult:
        try:
            result: SwapNoticeResult = await workflow.execute_activity(
                SEND_SWAP_NOTICE,
                run,
                result_type=SwapNoticeResult,
                start_to_close_timeout=SWAP_NOTICE_TIMEOUT,
                schedule_to_close_timeout=SWAP_NOTICE_GIVE_UP_AFTER,
                retry_policy=SWAP_NOTICE_RETRY,
            )
            return result
        except ActivityError as err:
            # Chat refused for good (invalid_auth, user_not_found) or stayed down: recorded, the swap stands.
            cause = cause_of(err)
            workflow.logger.warning("swap notice %s of #%s failed: %s", run.event, run.change_id, cause)
            return SwapNoticeResult(change_id=run.change_id, event=run.event, outcome="failed", detail=cause)

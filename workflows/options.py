"""How long each kind of activity may take and how it is retried: the one place every workflow takes
them from, so the same far end is treated the same wherever it is called."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sevflow.paging.models import PAGE_ATTEMPTS

# The store (SQLite or PostgreSQL): a short write, retried until the store answers.
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
# A store call that refuses the command itself (an item that cannot be added, a postmortem that cannot
# be published yet) fails once, with the reason, instead of being retried.
STORE_REFUSALS = ["InvalidCommand", "PostmortemIncomplete"]
STORE_RETRY_UNLESS_REFUSED = RetryPolicy(
    maximum_interval=timedelta(seconds=30), non_retryable_error_types=STORE_REFUSALS
)
# A local store write retried for longer than this waits on timers between attempts (the SDK's default,
# said here because the register relies on it): a store down for minutes costs a few events, not a
# workflow task held open and heartbeated for all that time.
LOCAL_RETRY_THRESHOLD = timedelta(minutes=1)

# Chat (Slack): may be down for a long time; paging and timers must not wait for it, so posts run beside
# them and give up after a day, leaving a line on the timeline.
CHAT_TIMEOUT = timedelta(seconds=30)
CHAT_GIVE_UP_AFTER = timedelta(days=1)
CHAT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
# The first sync's local attempt, once: longer than the Slack client's own timeout (10 s), so a hung call
# fails inside it rather than racing the activity that follows a failure.
LOCAL_CHAT_TIMEOUT = timedelta(seconds=12)
LOCAL_CHAT_RETRY = RetryPolicy(maximum_attempts=1)
# A reminder to an action item's owner that cannot be delivered for a day is stale: the next one is due.
NOTICE_TIMEOUT = timedelta(seconds=30)
NOTICE_GIVE_UP_AFTER = timedelta(hours=20)
NOTICE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))

# The tracker (Jira) may be down for days; issues are created and moved once it is back.
TICKET_TIMEOUT = timedelta(seconds=60)
TICKET_GIVE_UP_AFTER = timedelta(days=30)
POSTMORTEM_TICKET_GIVE_UP_AFTER = timedelta(days=7)
TICKET_RETRY = RetryPolicy(maximum_interval=timedelta(hours=1))
# One try a day is the point of a poll: a failure waits for tomorrow's.
TICKET_POLL_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(minutes=1))

# Planning a ladder's level: pure config math on the worker.
PLAN_TIMEOUT = timedelta(seconds=30)
PLAN_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
# Pages: the send_pages activity records a failure itself on its last attempt (PAGE_ATTEMPTS, shared
# with it), so a page ends on the record either way; the attempts span about two minutes.
PAGE_TIMEOUT = timedelta(seconds=30)
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=PAGE_ATTEMPTS,
)
# The local attempt at a level's start or pages, once. Longer than a far-end call's own timeout (10 s for
# the Slack and webhook clients), so that a hung call fails inside it rather than being sent again by the
# activity while it still runs; meanwhile the SDK heartbeats the workflow task (every 8 s), so an ack
# waits on the escalation's workflow task at most that long.
LOCAL_PAGE_TIMEOUT = timedelta(seconds=12)
LOCAL_PAGE_RETRY = RetryPolicy(maximum_attempts=1)

# Holiday dates for a chase calendar (an activity: the `holidays` package never runs in a workflow).
HOLIDAYS_TIMEOUT = timedelta(seconds=30)
HOLIDAYS_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))

# A rotation's handoff: posted much later than the handoff it is noise.
HANDOFF_TIMEOUT = timedelta(seconds=30)
HANDOFF_GIVE_UP_AFTER = timedelta(minutes=30)
HANDOFF_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=2))
# Planning the next handoff reads the on-call counter (and the changes when it moved): retried until the
# database answers, since the timer cannot be set without it.
HANDOFF_PLAN_TIMEOUT = timedelta(seconds=30)
HANDOFF_PLAN_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))

# A swap's direct message (asked: how to confirm; confirmed: in force): re-read and checked at each try,
# so a late one that no longer fits sends nothing; a day late it is stale, the swap shows in the lists.
SWAP_NOTICE_TIMEOUT = timedelta(seconds=30)
SWAP_NOTICE_GIVE_UP_AFTER = timedelta(days=1)
SWAP_NOTICE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))

# A report: building it may take a while on a large store; a report a day late is still worth posting.
REPORT_TIMEOUT = timedelta(minutes=5)
REPORT_GIVE_UP_AFTER = timedelta(hours=24)
REPORT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))

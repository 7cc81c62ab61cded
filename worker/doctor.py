"""`sevflow doctor`: is this installation well? One line per check, problems first in words.

Checks the config, the pagers its people's notify rules need (each method whose provider the settings
do not configure, who uses it and what to set), the database, Temporal, a worker polling the task
queue, and the workflows stuck on a task that fails on every attempt (worker/stuck.py), with who is
paged about them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from activities.smtp_pager import parse_smtp_url
from sevflow.config.loader import load_config
from sevflow.config.schema import SevflowConfig
from sevflow.errors import SevflowError
from sevflow.paging.task_queue import worker_task_queues
from sevflow.settings import Settings
from sevflow.store.repository import Store
from sevflow.stuck import first_line
from worker.stuck import find_stuck
from worker.temporal import connect, temporal_target

# A poller seen this recently is a worker that is there.
POLLER_FRESH = timedelta(minutes=2)
CHECK_TIMEOUT = 10.0


async def run_doctor(settings: Settings, say: Callable[[str], None]) -> int:
    """Says each check's outcome; the number of problems found."""
    problems = 0

    def report(ok: bool, what: str, text: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        say(f"{'ok     ' if ok else 'PROBLEM'}  {what:<10} {text}")

    try:
        config = load_config(settings.resolved_config_path)
    except SevflowError as err:
        report(False, "config", first_line(str(err)))
        return problems
    report(True, "config", str(settings.resolved_config_path or "built-in defaults"))
    gaps = pager_gaps(settings, config)
    for gap in gaps:
        report(False, "pagers", gap)
    if not gaps:
        report(True, "pagers", pagers_in_use(config))

    try:
        # Not made here: a doctor that made an empty database would report the wrong one as fine.
        store = Store.from_url(settings.resolved_database_url, create=False)
        try:
            await asyncio.to_thread(store.ping)
        finally:
            store.dispose()
        report(True, "database", "answers")
    except Exception as err:  # any failure is the answer here
        report(False, "database", f"cannot be used (SEVFLOW_DATABASE_URL): {first_line(str(err))}")

    target = temporal_target(settings)
    try:
        client = await asyncio.wait_for(connect(settings), CHECK_TIMEOUT)
        await asyncio.wait_for(client.service_client.check_health(), CHECK_TIMEOUT)
    except Exception as err:  # as above
        report(False, "temporal", first_line(str(err)) or f"unreachable at {target}: {type(err).__name__}")
        return problems
    report(True, "temporal", f"answers at {target}")

    # The incidents' queue and the escalations' own (sevflow.paging.task_queue): a worker polls both.
    for queue in worker_task_queues(settings.task_queue):
        pollers = await _fresh_pollers(client, queue)
        if pollers is None:
            report(False, "worker", f"could not ask Temporal who polls {queue!r}")
        elif pollers:
            report(True, "worker", f"{pollers} polling {queue!r}")
        else:
            report(False, "worker", f"nobody polls {queue!r}: start `sevflow worker` (or `sevflow up`)")

    try:
        stuck = await asyncio.wait_for(find_stuck(client, settings.task_queue), CHECK_TIMEOUT)
    except (RPCError, TimeoutError) as err:
        report(False, "workflows", f"could not look for stuck workflows: {first_line(str(err))}")
        return problems
    team = config.operations.team
    paged = f"team {team} is paged" if team else "nobody is paged (set operations.team in sevflow.yaml)"
    if not stuck:
        report(True, "workflows", f"none stuck (when one is, {paged})")
    else:
        report(False, "workflows", f"{len(stuck)} stuck, {paged}:")
        for wf in stuck:
            say(f"           - {wf.summary()}")
    return problems


TWILIO_CREDENTIALS = "SEVFLOW_TWILIO_AUTH_TOKEN (or SEVFLOW_TWILIO_API_KEY and SEVFLOW_TWILIO_API_SECRET)"
# What each method's pages are called in a sentence.
PAGES_BY = {"sms": "texts", "voice": "calls", "email": "e-mails"}


def users_of(config: SevflowConfig, method: str) -> list[str]:
    """The people of sevflow.yaml with a notify rule (of either urgency) by `method`."""
    return sorted(name for name, person in config.people.items() if method in person.notify.methods)


def _twilio_missing(settings: Settings) -> list[str]:
    """The settings Twilio still needs, as worker.main.pagers_from reads them (empty: configured)."""
    missing = [] if settings.twilio_account_sid else ["SEVFLOW_TWILIO_ACCOUNT_SID"]
    if settings.twilio_auth_token is None and not (settings.twilio_api_key and settings.twilio_api_secret):
        if settings.twilio_api_key:
            missing.append("SEVFLOW_TWILIO_API_SECRET (or SEVFLOW_TWILIO_AUTH_TOKEN)")
        elif settings.twilio_api_secret is not None:
            missing.append("SEVFLOW_TWILIO_API_KEY (or SEVFLOW_TWILIO_AUTH_TOKEN)")
        else:
            missing.append(TWILIO_CREDENTIALS)
    if not settings.twilio_from:
        missing.append("SEVFLOW_TWILIO_FROM")
    return missing


def _smtp_missing(settings: Settings) -> list[str]:
    missing = [] if settings.smtp_url is not None else ["SEVFLOW_SMTP_URL"]
    return missing + ([] if settings.smtp_from else ["SEVFLOW_SMTP_FROM"])


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def pager_gaps(settings: Settings, config: SevflowConfig) -> list[str]:
    """One sentence per notify method that people of sevflow.yaml use but these settings give no way
    out for (their pages would be recorded unreachable): the method, who uses it, what to set. Push
    goes through Apprise, which needs no setting; slack_dm and webhook are checked elsewhere."""
    gaps: list[str] = []
    for method in ("sms", "voice"):
        if not (people := users_of(config, method)):
            continue
        whose = f"{method}: the {PAGES_BY[method]} to {_and(people)} cannot go out"
        if missing := _twilio_missing(settings):
            gaps.append(f"{whose}: set {_and(missing)}")
        elif method == "voice" and (settings.twilio_from or "").startswith("MG"):
            gaps.append(
                f"{whose}: SEVFLOW_TWILIO_FROM is a Messaging Service, which sends texts only: "
                "set it to a phone number of the account (E.164)"
            )
    partial = bool(settings.twilio_account_sid or settings.twilio_from)
    if (
        partial
        and (missing := _twilio_missing(settings))
        and not (users_of(config, "sms") or users_of(config, "voice"))
    ):
        gaps.append(f"twilio: half configured, so the worker does not start: set {_and(missing)}")
    answering = sorted(set(users_of(config, "sms")) | set(users_of(config, "voice")))
    if answering and not _twilio_missing(settings) and settings.twilio_auth_token is None:
        # Sent with an API key, the pages go out; Twilio signs the answers with the auth token.
        gaps.append(
            f"sms, voice: the answers of {_and(answering)} (a reply or a key: 1 acknowledges, 2 "
            "escalates) are refused: set SEVFLOW_TWILIO_AUTH_TOKEN, which Twilio signs its webhooks with"
        )
    if people := users_of(config, "email"):
        whose = f"email: the e-mails to {_and(people)} cannot go out"
        if missing := _smtp_missing(settings):
            gaps.append(f"{whose}: set {_and(missing)}")
        elif settings.smtp_url is not None:
            try:
                parse_smtp_url(settings.smtp_url.get_secret_value())
            except ValueError as err:
                gaps.append(f"{whose}: {err}")
    elif (settings.smtp_url is not None or settings.smtp_from) and (missing := _smtp_missing(settings)):
        gaps.append(f"email: half configured, so the worker does not start: set {_and(missing)}")
    return gaps


def pagers_in_use(config: SevflowConfig) -> str:
    """The ok line: which of the pagers people use, all configured."""
    used = [m for m in ("sms", "voice", "email", "push") if users_of(config, m)]
    if not used:
        return "nobody is paged by text, call, e-mail or push"
    return f"{_and(used)}: configured for everyone whose notify rules use them"


async def _fresh_pollers(client: Client, task_queue: str) -> int | None:
    """How many workers polled `task_queue` for workflow tasks lately (None: Temporal did not say)."""
    try:
        found = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except RPCError:
        return None
    now = datetime.now(UTC)
    return sum(1 for p in found.pollers if now - p.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESH)

"""Builds the worker: the workflows and the activities wired to their ports, on two task queues."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, UnsandboxedWorkflowRunner, Worker

from activities.action_items import ActionItemActivities
from activities.calendar import resolve_holidays
from activities.chat import ChatActivities, ChatPort, ConsoleChat
from activities.files import ConsoleFiles, FilePort, SlackFiles
from activities.handoff import HandoffActivities
from activities.heartbeats import AlertIntake, HeartbeatActivities
from activities.pagers import Pagers
from activities.paging import PageLinks, PagingActivities
from activities.postmortem import PostmortemActivities
from activities.push_pager import ApprisePush
from activities.reports import ReportActivities
from activities.silences import SilenceActivities
from activities.slack import SlackChat, slack_client
from activities.smtp_pager import SmtpEmail
from activities.store import StoreActivities
from activities.swap_notices import SwapNoticeActivities
from activities.tickets import JiraTickets, TicketPort, jira_client
from activities.twilio_pager import TwilioSms, TwilioVoice, twilio_client
from activities.webhook import SignedWebhook, WebhookPort
from sevflow.config.schema import SevflowConfig
from sevflow.errors import ConfigError
from sevflow.oncall.live import LiveConfig
from sevflow.paging.task_queue import paging_task_queue
from sevflow.settings import Settings, page_link_secret
from sevflow.store.database import PAGING_THREADS, PLANNING_THREADS, STORE_THREADS
from sevflow.store.repository import Store
from worker.sandbox import install_code_cache, sandbox_runner
from workflows.action_item import ActionItemWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.handoff import HandoffWorkflow
from workflows.heartbeat import HeartbeatWatchWorkflow
from workflows.incident import IncidentWorkflow
from workflows.report import ReportWorkflow
from workflows.silence import SilenceWorkflow
from workflows.swap_notice import SwapNoticeWorkflow

# The SDK's default: a worker keeps this many workflows in memory between their tasks.
DEFAULT_MAX_CACHED_WORKFLOWS = 1000

WORKFLOWS = [
    IncidentWorkflow,
    EscalationWorkflow,
    HandoffWorkflow,
    SwapNoticeWorkflow,
    ActionItemWorkflow,
    ReportWorkflow,
    SilenceWorkflow,
    HeartbeatWatchWorkflow,
]


def chat_backend(settings: Settings) -> ChatPort:
    """Slack when a bot token is configured, else the console backend."""
    if settings.slack_bot_token is None:
        return ConsoleChat()
    client = slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    return SlackChat(client)


def files_backend(settings: Settings) -> FilePort:
    """Slack's file uploads with a bot token, else files written under the data dir (the reports)."""
    if settings.slack_bot_token is None:
        return ConsoleFiles(settings.data_dir / "files")
    return SlackFiles(slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url))


def paging_webhook(config: SevflowConfig, environ: Mapping[str, str] = os.environ) -> WebhookPort | None:
    """The signed page webhook of `paging.webhook`, with its secret from the environment."""
    spec = config.paging.webhook
    if spec is None:
        return None
    secret = environ.get(spec.secret_env)
    if not secret:
        raise ConfigError(f"paging.webhook needs its signing secret: set {spec.secret_env}")
    return SignedWebhook(spec.url, secret, spec.timeout)


def pagers_from(settings: Settings) -> Pagers:
    """The ways a page leaves by text, call, email and push that the settings configure: Twilio with
    an account, its credentials and a sender (calls need the sender to be a phone number, not a
    Messaging Service); SMTP with a server URL and a From address; push through Apprise always (each
    person's push address names the service). Half a configuration is refused at start, in words."""
    sms: TwilioSms | None = None
    voice: TwilioVoice | None = None
    # Twilio reports how a text or call ended to sevflow's public URL: only one set on purpose.
    status_url = settings.public_url
    if settings.twilio_account_sid or settings.twilio_from:
        if not (settings.twilio_account_sid and settings.twilio_from):
            raise ConfigError("Twilio needs both SEVFLOW_TWILIO_ACCOUNT_SID and SEVFLOW_TWILIO_FROM")
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
        secret = settings.twilio_api_secret.get_secret_value() if settings.twilio_api_secret else None
        api_key = (settings.twilio_api_key, secret) if settings.twilio_api_key and secret else None
        if token is None and api_key is None:
            raise ConfigError(
                "Twilio needs SEVFLOW_TWILIO_AUTH_TOKEN "
                "(or SEVFLOW_TWILIO_API_KEY and SEVFLOW_TWILIO_API_SECRET)"
            )
        client = twilio_client(
            settings.twilio_account_sid, auth_token=token, api_key=api_key, api_url=settings.twilio_api_url
        )
        sms = TwilioSms(client, settings.twilio_from, status_url)
        if not settings.twilio_from.startswith("MG"):
            voice = TwilioVoice(client, settings.twilio_from, status_url)
    email: SmtpEmail | None = None
    if settings.smtp_url is not None or settings.smtp_from:
        if settings.smtp_url is None or not settings.smtp_from:
            raise ConfigError("email pages need both SEVFLOW_SMTP_URL and SEVFLOW_SMTP_FROM")
        try:
            email = SmtpEmail(settings.smtp_url.get_secret_value(), settings.smtp_from)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    return Pagers(sms=sms, voice=voice, email=email, push=ApprisePush())


def page_links(settings: Settings) -> PageLinks:
    """Acknowledge links at sevflow's public URL, signed with the deployment's link secret."""
    return PageLinks(settings.resolved_public_url, page_link_secret(settings))


def ticket_backend(settings: Settings, config: SevflowConfig) -> TicketPort | None:
    """Jira when sevflow.yaml has a `jira` section and SEVFLOW_JIRA_URL with credentials is set."""
    if config.jira is None or settings.jira_url is None:
        return None
    url = settings.jira_url
    email = settings.jira_email
    api_token = settings.jira_api_token.get_secret_value() if settings.jira_api_token else None
    bearer = settings.jira_bearer_token.get_secret_value() if settings.jira_bearer_token else None
    if not bearer and not (email and api_token):
        raise ConfigError(
            "Jira needs SEVFLOW_JIRA_EMAIL and SEVFLOW_JIRA_API_TOKEN (or SEVFLOW_JIRA_BEARER_TOKEN)"
        )
    return JiraTickets(
        lambda: jira_client(url, email=email, api_token=api_token, bearer_token=bearer),
        project=config.jira.project,
        issue_type=config.jira.issue_type,
    )


def build_worker(
    client: Client,
    task_queue: str,
    store: Store,
    chat: ChatPort | None = None,
    executor: ThreadPoolExecutor | None = None,
    config: SevflowConfig | None = None,
    webhook: WebhookPort | None = None,
    tickets: TicketPort | None = None,
    files: FilePort | None = None,
    max_cached_workflows: int | None = None,
    pagers: Pagers | None = None,
    links: PageLinks | None = None,
    config_text: str | None = None,
    sandboxed: bool = True,
    intake: AlertIntake | None = None,
    paging_executor: ThreadPoolExecutor | None = None,
) -> SevflowWorker:
    """A worker with every workflow and activity (SevflowWorker): the escalations on their own task queue
    (sevflow.paging.task_queue) with their activities on `paging_executor`'s threads, the rest on
    `task_queue` with theirs on `executor`'s.

    `config` (sevflow.yaml) is what the on-call activities read: people, rotations and policies.
    `pagers` send pages by text, call, email and push (none: those pages are unreachable), with
    acknowledge links made by `links` (none: the pages say where else to acknowledge).
    `max_cached_workflows` (default the SDK's, 1000) bounds the workflows each of the two keeps in memory
    between their tasks (SEVFLOW_WORKER_MAX_CACHED_WORKFLOWS; at least 1, see sevflow/settings.py).
    `config_text` is sevflow.yaml's text: kept in the store under its version id, so that incidents
    declared on it page on it after a restart with another file (none: they page on the current one).
    `sandboxed`: the workflows run in the SDK's sandbox (every test's worker), or as plain Python (`sevflow
    worker` unless SEVFLOW_WORKER_WORKFLOW_SANDBOX is on; sevflow/settings.py says why).
    `intake` is where a late heartbeat's alert goes, the ingest the alert webhooks use (starter/ingest.py,
    given by the entry point; none: a late heartbeat's sweep fails and retries, saying why)."""
    if sandboxed:
        install_code_cache(WORKFLOWS)  # the sandbox compiles each workflow module once, not once per run
    config = config or SevflowConfig()
    # The on-call activities read sevflow.yaml with the runtime on-call changes (covers, swaps, leave),
    # re-read when one is made: no restart.
    live = LiveConfig(config, store, config_text)
    live.save()  # once per process (again at the first register, should the database be down now)
    store_acts = StoreActivities(store, config, live)
    chat = chat or ConsoleChat()
    chat_acts = ChatActivities(chat, store)
    executor = executor or ThreadPoolExecutor(max_workers=STORE_THREADS)
    # Threads of their own: a page waiting on Slack, Twilio or SMTP never holds up an incident's write.
    paging_executor = paging_executor or ThreadPoolExecutor(max_workers=PAGING_THREADS)
    paging_acts = PagingActivities(
        live,
        chat,
        store,
        webhook or paging_webhook(config),
        executor=paging_executor,
        planning_executor=ThreadPoolExecutor(
            max_workers=PLANNING_THREADS, thread_name_prefix="sevflow-planning"
        ),
        pagers=pagers,
        contacts=store,
        links=links,
    )
    paging_activities: list[Callable[..., Any]] = [
        paging_acts.plan_escalation_level,
        paging_acts.send_pages,
        paging_acts.page_level,
    ]
    handoff_acts = HandoffActivities(live, store, chat)
    swap_notice_acts = SwapNoticeActivities(config, store, chat)
    action_item_acts = ActionItemActivities(config, chat, store, tickets)
    postmortem_acts = PostmortemActivities(config, store, tickets)
    silence_acts = SilenceActivities(config, store, chat)
    heartbeat_acts = HeartbeatActivities(store, intake)
    report_acts = ReportActivities(config, store, chat, files or ConsoleFiles(Path(".sevflow") / "files"))
    cached = DEFAULT_MAX_CACHED_WORKFLOWS if max_cached_workflows is None else max_cached_workflows
    runner = sandbox_runner() if sandboxed else UnsandboxedWorkflowRunner()
    main = Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            store_acts.register_incident,
            store_acts.record_incident,
            store_acts.claim_merge,
            store_acts.pin_config,
            store_acts.release_alert_group,
            chat_acts.post_message,
            chat_acts.sync_chat,
            chat_acts.archive_chat,
            # An escalation started on this queue by hand (a test's, an older start) pages here too.
            *paging_activities,
            handoff_acts.plan_handoff,
            handoff_acts.post_handoff,
            swap_notice_acts.send_swap_notice,
            action_item_acts.prepare_action_item,
            action_item_acts.resolve_contact,
            action_item_acts.save_action_item,
            action_item_acts.notify_action_owner,
            action_item_acts.ensure_action_ticket,
            action_item_acts.action_ticket_status,
            action_item_acts.sync_action_ticket,
            postmortem_acts.plan_postmortem,
            postmortem_acts.publish_postmortem,
            postmortem_acts.ensure_postmortem_ticket,
            report_acts.weekly_report,
            report_acts.monthly_report,
            resolve_holidays,
            silence_acts.silence_tick,
            heartbeat_acts.heartbeat_sweep,
        ],
        activity_executor=executor,
        workflow_runner=runner,
        # Pollers that scale with the server's backlog: with the SDK's fixed five (one of them on the
        # task queue shared by the workers, the rest on this worker's sticky queue), a burst of new
        # incidents and escalations waited for that one poller behind their running siblings' tasks:
        # the first level of 1,000 escalations a minute was paged up to 25 s late (bench.paging).
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        activity_task_poller_behavior=PollerBehaviorAutoscaling(),
        max_cached_workflows=cached,
    )
    paging = Worker(
        client,
        task_queue=paging_task_queue(task_queue),
        workflows=[EscalationWorkflow],
        activities=paging_activities,
        activity_executor=paging_executor,
        workflow_runner=runner,
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        activity_task_poller_behavior=PollerBehaviorAutoscaling(),
        max_cached_workflows=cached,
    )
    return SevflowWorker(main, paging)


class SevflowWorker:
    """sevflow's worker, run as one Temporal Worker is (`async with`, `run`, `shutdown`): the incidents
    and everything else on `task_queue`, and the escalations on their own queue
    (sevflow.paging.task_queue) with their own pollers, task slots, cache and activity threads. In a
    paging storm thousands of escalation tasks wait their turn; on one queue an incident's acknowledge,
    a declare or a stop waited behind them all (the pager benchmark: replies of `1` answered "sevflow is
    unavailable" after 30 s while paging went on). Either worker failing stops the other: half a worker
    would page with nobody able to acknowledge."""

    def __init__(self, main: Worker, paging: Worker) -> None:
        self.main = main
        self.paging = paging
        self._entered = contextlib.AsyncExitStack()

    @property
    def task_queue(self) -> str:
        return self.main.task_queue

    @property
    def paging_task_queue(self) -> str:
        return self.paging.task_queue

    @property
    def workers(self) -> tuple[Worker, Worker]:
        return (self.main, self.paging)

    async def run(self) -> None:
        runs = [asyncio.create_task(w.run(), name=f"worker {w.task_queue}") for w in self.workers]
        try:
            await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # One ended (shut down, failed, or this run was cancelled): the other goes with it.
            await asyncio.gather(*(w.shutdown() for w in self.workers), return_exceptions=True)
        for run in runs:
            run.result()  # a worker's failure, raised as one worker's run raises it

    async def shutdown(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self.workers))

    async def __aenter__(self) -> SevflowWorker:
        try:
            for worker in self.workers:
                await self._entered.enter_async_context(worker)
        except BaseException:
            await self._entered.aclose()  # no half-started worker left running
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._entered.aclose()

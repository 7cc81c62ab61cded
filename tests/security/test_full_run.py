"""A full incident lifecycle with every credential in play, logged at DEBUG by every logger: no secret
value appears in any log line, on stdout or stderr, or in a Temporal workflow history; and every
message posted to Slack shows hostile titles and updates as text (no `<!channel>`, no markup).

SECURITY.md, "Secrets" and "Injection: Slack". The API runs under uvicorn exactly as `sevflow api`
configures it (make_server), the worker in the same process with the real Slack backend (slack_sdk
against the Slack emulator) and the real Jira backend (the `jira` library against the Jira emulator).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.incident.models import Status
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app, serving
from tests.conftest import terminate_task_queue
from tests.emulators import SlackEmulator
from tests.emulators.jira import DEFAULT_EMAIL, JiraEmulator
from tests.security.support import (
    ALERT_TOKENS,
    API_TOKEN,
    JIRA_WEBHOOK_SECRET,
    SLACK_SIGNING_SECRET,
    alert_environ,
    slack_headers,
)
from tests.support.ports import free_port
from worker.logs import RedactCredentials, redact, redact_logged_urls
from worker.main import build_worker, chat_backend, ticket_backend
from worker.stuck import on_worker_queues

BOT_TOKEN = "xoxb-sec-bot-token-9a8b7c"
JIRA_API_TOKEN = "ATATT-sec-jira-api-3e4f5a"
GENERIC_TOKEN = ALERT_TOKENS[next(s for s in ALERT_TOKENS if s.value == "generic")]
SECRETS = {
    "API token": API_TOKEN,
    "Slack signing secret": SLACK_SIGNING_SECRET,
    "Slack bot token": BOT_TOKEN,
    "Jira webhook secret": JIRA_WEBHOOK_SECRET,
    "Jira API token": JIRA_API_TOKEN,
    # What the jira library sends: HTTP Basic of email:token.
    "Jira Basic credentials": base64.b64encode(f"{DEFAULT_EMAIL}:{JIRA_API_TOKEN}".encode()).decode(),
    "generic alert token": GENERIC_TOKEN,
}
HOSTILE_TITLE = "<!channel> checkout <script>alert(1)</script> & 5xx > 5%'); DROP TABLE incidents; --"
HOSTILE_UPDATE = "rolled back <!here> <@U0ADMIN> <https://evil.example|click here> & watching"
CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
jira: {project: OPS}
"""
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
LOGGERS = [
    "",
    "sevflow",
    "starter",
    "activities",
    "worker",
    "temporalio",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "fastapi",
    "starlette",
    "httpx",
    "httpcore",
    "slack_sdk",
    "slack_bolt",
    "urllib3",
    "requests",
    "jira",
    "sqlalchemy",
    "asyncio",
]

# Set while the test's own HTTP client sends: its httpx log lines (which name the URL it was told to
# call, ?token= included) are the test's, not sevflow's.
_TEST_CLIENT: contextvars.ContextVar[bool] = contextvars.ContextVar("test_client", default=False)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if _TEST_CLIENT.get():
            return
        try:
            self.lines.append(self.format(record))
        except Exception as err:  # a record that cannot format is a finding too
            self.lines.append(
                f"unformattable record from {record.name}: {err!r} {record.msg!r} {record.args!r}"
            )


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in LOGGERS}
    root.addHandler(handler)
    debug_everywhere()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, (level, propagate) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


def debug_everywhere() -> None:
    """DEBUG on every logger that exists now (uvicorn reconfigures its own when it starts)."""
    for name in [*LOGGERS, *logging.root.manager.loggerDict]:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if name.startswith("uvicorn"):
            logger.propagate = True


class Run:
    def __init__(
        self, http: httpx.AsyncClient, store: Store, slack: SlackEmulator, jira: JiraEmulator
    ) -> None:
        self.http = http
        self.store = store
        self.slack = slack
        self.jira = jira

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        marker = _TEST_CLIENT.set(True)
        try:
            return await self.http.request(method, url, **kwargs)
        finally:
            _TEST_CLIENT.reset(marker)

    async def until(self, what: str, check: Callable[[], Any], limit: float = 40) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            value = await asyncio.to_thread(check)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never: {what}")

    async def slash(
        self, text: str, user: str, channel: str, secret: str = SLACK_SIGNING_SECRET
    ) -> httpx.Response:
        form = json.loads((FIXTURES / "slack_slash_command.decoded.json").read_text())
        form.update(text=text, user_id=user, channel_id=channel, trigger_id=f"trig-{time.monotonic_ns()}")
        form["response_url"] = self.slack.response_url(channel=channel, user=user)
        body = urllib.parse.urlencode(form).encode()
        return await self.send(
            "POST", "/slack/commands", content=body, headers=slack_headers(body, secret=secret)
        )


@pytest.fixture
async def run(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, capture: Capture
) -> AsyncIterator[Run]:
    config = parse_config(CONFIG)
    with (
        SlackEmulator(token=BOT_TOKEN, channels=("general", "payments")) as slack,
        JiraEmulator(api_token=JIRA_API_TOKEN) as jira,
    ):
        settings = Settings(
            task_queue=task_queue,
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
            config=None,
            http_host="127.0.0.1",
            http_port=free_port(),
            log_level="DEBUG",
            api_token=SecretStr(API_TOKEN),
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_signing_secret=SecretStr(SLACK_SIGNING_SECRET),
            slack_api_url=slack.base_url,
            jira_url=jira.url,
            jira_email=DEFAULT_EMAIL,
            jira_api_token=SecretStr(JIRA_API_TOKEN),
            jira_webhook_secret=SecretStr(JIRA_WEBHOOK_SECRET),
        )
        store = Store.from_url(settings.resolved_database_url)
        app = create_app(settings, store=store, config=config, client=dev_env.client, environ=alert_environ())
        worker = build_worker(
            dev_env.client,
            task_queue,
            store,
            chat_backend(settings),
            config=config,
            tickets=ticket_backend(settings, config),
        )
        async with (
            worker,
            serving(app, settings) as base,
            httpx.AsyncClient(base_url=base, timeout=30) as http,
        ):
            debug_everywhere()  # again: uvicorn set its loggers' levels when it started
            try:
                yield Run(http, store, slack, jira)
            finally:
                await terminate_task_queue(dev_env.client, task_queue)
        store.dispose()


async def lifecycle(run: Run) -> int:
    """Alert in (token in the query), Slack command (signed), API with the token both ways, an action
    item filed in Jira (API token) and closed by Jira's webhook (secret), resolve; plus one wrong
    credential at each door. Returns the incident's number."""
    alert = {"key": "checkout-5xx", "title": HOSTILE_TITLE, "severity": "critical", "service": "checkout"}
    fired = await run.send("POST", "/v1/alerts/generic", params={"token": GENERIC_TOKEN}, json=alert)
    assert fired.status_code == 202, fired.text
    incident = await run.until("the incident", lambda: next(iter(run.store.list_incidents()), None))
    number: int = incident.number
    channel = await run.until("its channel", lambda: run.store.chat_channel(number))

    acked = await run.slash("ack", "U0ALICE", channel.channel_id)
    assert acked.status_code == 200, acked.text
    await run.until(
        "acknowledged",
        lambda: (s := run.store.get_incident(number)) is not None and s.status is Status.ACKNOWLEDGED,
    )

    bearer = {"authorization": f"Bearer {API_TOKEN}"}
    updated = await run.send(
        "POST",
        f"/v1/incidents/{number}/update",
        params={"token": API_TOKEN},
        json={"by": "alice", "text": HOSTILE_UPDATE},
    )
    assert updated.status_code == 200, updated.text
    item = await run.send(
        "POST",
        f"/v1/incidents/{number}/actions",
        headers=bearer,
        json={"by": "alice", "title": "cap the pool size in the security run", "owner": "bob"},
    )
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    stored = await run.until(
        "the item's Jira issue", lambda: (s := run.store.action_item(item_id)) and s.item.ticket_key and s
    )
    done = run.jira.set_status(stored.item.ticket_key, "Done", by="alice@example.com")
    hooked = await run.send("POST", "/jira/webhook", params={"secret": JIRA_WEBHOOK_SECRET}, json=done)
    assert hooked.status_code == 200 and hooked.json().get("item") == item_id, hooked.text
    await run.until(
        "the item closed",
        lambda: (s := run.store.action_item(item_id)) is not None and s.item.status.value == "done",
    )

    # One wrong credential at each door: refusals must not echo the right one either.
    wrong = [
        await run.send("GET", "/v1/incidents", params={"token": "wrong"}),
        await run.send("POST", "/v1/alerts/generic", params={"token": "wrong"}, json=alert),
        await run.send("POST", "/jira/webhook", params={"secret": "wrong"}, json=done),
        await run.slash("resolve", "U0ALICE", channel.channel_id, secret="wrong"),
    ]
    assert [r.status_code for r in wrong] == [401, 401, 401, 401]

    resolved = await run.send(
        "POST", f"/v1/incidents/{number}/resolve", headers=bearer, json={"by": "U0ALICE"}
    )
    assert resolved.status_code == 200, resolved.text
    await run.until(
        "the resolution in Slack",
        lambda: any(
            "resolved" in (c["params"].get("text") or "").lower() for c in run.slack.calls("chat.postMessage")
        ),
    )
    return number


def leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


async def workflow_histories(dev_env: WorkflowEnvironment, task_queue: str) -> str:
    parts = []
    async for wf in dev_env.client.list_workflows(on_worker_queues(task_queue)):
        history = await dev_env.client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        parts.append(history.to_json())
    assert parts
    return "\n".join(parts)


def mrkdwn_texts(params: dict[str, Any]) -> list[str]:
    """Every string Slack would read as mrkdwn in a call: `text`, mrkdwn text objects, and topics."""
    found: list[str] = []
    for key in ("text", "topic", "purpose"):
        if isinstance(params.get(key), str):
            found.append(params[key])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    blocks = params.get("blocks")
    walk(json.loads(blocks) if isinstance(blocks, str) else blocks)
    return found


async def test_a_full_run_logs_no_secret_and_posts_only_escaped_text(
    run: Run,
    capture: Capture,
    capfd: pytest.CaptureFixture[str],
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    await lifecycle(run)

    # The run was really logged at DEBUG by the libraries that see credentials.
    names = {line.split(" ", 1)[0] for line in capture.lines}
    assert any(n.startswith("slack_sdk") for n in names), sorted(names)
    assert any(n.startswith("urllib3") for n in names), sorted(names)  # the jira library's HTTP
    assert len(capture.lines) > 100

    for line in capture.lines:
        assert not leaks(line), (leaks(line), line[:500])
    out, err = capfd.readouterr()
    assert not leaks(out) and not leaks(err), (leaks(out), leaks(err))
    assert not leaks(await workflow_histories(dev_env, task_queue))

    # Slack: the hostile title and update reached Slack only as text.
    calls = [
        c
        for c in run.slack.calls()
        if c["method"]
        in {
            "chat.postMessage",
            "chat.update",
            "chat.postEphemeral",
            "conversations.setTopic",
            "conversations.setPurpose",
        }
    ]
    texts = [t for c in calls for t in mrkdwn_texts(c["params"])]
    assert any("&lt;!channel&gt; checkout &lt;script&gt;" in t for t in texts), texts
    assert any("&lt;!here&gt;" in t for t in texts), texts
    for text in texts:
        # A person may be mentioned (as anyone in Slack may); the channel may never be notified, and no
        # link or other markup survives.
        for markup in ("<!channel>", "<!here>", "<!everyone>", "<https://evil", "<script"):
            assert markup not in text, text
        # What markup remains is sevflow's own: mentions, channel links and dates.
        ours = re.compile(r"<(?:[@#][UWCG][A-Z0-9]{2,}|!date\^[0-9]+\^[^<>|]*\|[^<>]*)>")
        assert all(ours.fullmatch(m) for m in re.findall(r"<[^<>]*>", text)), text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text  # every & is an entity
    # Response-URL answers (the slash command's) go through the emulator too.
    for reply in run.slack.calls():
        if reply["method"].startswith("response_url"):
            for text in mrkdwn_texts(reply["params"]):
                assert "<!channel>" not in text


def test_logged_urls_have_their_credentials_redacted() -> None:
    """What the full run relies on, line by line: uvicorn's access-log format, httpx's request line,
    and the query parameters that carry credentials; everything else is left as it was."""
    line = '127.0.0.1:5 - "POST /v1/alerts/generic?token=abc&x=1 HTTP/1.1" 202'
    assert redact(line) == '127.0.0.1:5 - "POST /v1/alerts/generic?token=[redacted]&x=1 HTTP/1.1" 202'
    assert redact('HTTP Request: POST http://h/jira/webhook?a=1&secret=s3 "HTTP/1.1 200"') == (
        'HTTP Request: POST http://h/jira/webhook?a=1&secret=[redacted] "HTTP/1.1 200"'
    )
    assert redact("GET /?TOKEN=abc") == "GET /?TOKEN=[redacted]"
    assert (
        redact("no credentials: /v1/incidents?open=true tokens=3")
        == "no credentials: /v1/incidents?open=true tokens=3"
    )

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s"', ("ip", "GET", "/?token=abc"), None
    )
    assert RedactCredentials().filter(record)
    assert record.getMessage() == 'ip - "GET /?token=[redacted]"'
    redact_logged_urls()
    redact_logged_urls()  # idempotent
    for name in ("uvicorn.access", "uvicorn.error", "httpx"):
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, RedactCredentials)]
        assert len(filters) == 1, name

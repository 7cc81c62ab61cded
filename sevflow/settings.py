"""Process settings from the environment (prefix SEVFLOW_). The Temporal connection is not here: it
comes from the standard TEMPORAL_* variables and client config profile (see worker/temporal.py)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from sevflow.errors import ConfigError
from sevflow.paging.task_queue import PAGING_SUFFIX

# The acknowledge links' signing key in data_dir when SEVFLOW_PAGE_LINK_SECRET is not set.
PAGE_LINK_KEY_FILE = "page-link.key"


def _port(value: int) -> int:
    # Checked here, not where it is bound: a socket refuses 99999 with OverflowError, a traceback.
    if not 1 <= value <= 65535:
        raise ValueError(f"a port is 1 to 65535, not {value}")
    return value


def _address(value: str | None) -> str | None:
    """host:port with a port that can be one; the host is checked where it is bound."""
    if value is None:
        return None
    _, colon, port = value.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"write it as host:port, like 0.0.0.0:9000, not {value!r}")
    _port(int(port))
    return value


Port = Annotated[int, AfterValidator(_port)]


def _task_queue(value: str) -> str:
    """Not another deployment's escalations' queue: a worker on `x-paging` would run the escalations
    of the one on `x`, with its own sevflow.yaml and store."""
    if not value.strip():
        raise ValueError("name a task queue, like sevflow")
    if value.endswith(PAGING_SUFFIX):
        base = value.removesuffix(PAGING_SUFFIX)
        raise ValueError(
            f"{value!r} is the escalations' queue of the task queue {base!r}: choose a name that does "
            f"not end in {PAGING_SUFFIX}"
        )
    return value


class Settings(BaseSettings):
    # An empty value is no value: compose files and CI templates write `VAR=` for "not used", and an
    # empty Slack token or port must mean the default, not a backend that fails every call.
    model_config = SettingsConfigDict(env_prefix="SEVFLOW_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path(".sevflow")
    database_url: str | None = None
    config: Path | None = None
    # The escalations run on `<task_queue>-paging` (sevflow.paging.task_queue).
    task_queue: Annotated[str, AfterValidator(_task_queue)] = "sevflow"
    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    api_token: SecretStr | None = None
    # Read-only access to the dashboard (the API token is the operator's, who may act).
    viewer_token: SecretStr | None = None
    # The embedded dev server (`sevflow up` without TEMPORAL_ADDRESS).
    temporal_port: Port = 7233
    temporal_ui_port: Port = 8233
    log_level: str = "INFO"
    # Slack: with a bot token chat goes to Slack; without, to the console backend (the worker log).
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str | None = None  # another Web API base URL (our emulator in tests)
    slack_app_token: SecretStr | None = None  # xapp-...: Socket Mode instead of a public URL
    # Jira Cloud: the site URL with an account's email and API token; Data Center: a bearer token.
    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_bearer_token: SecretStr | None = None
    # Shared secret of POST /jira/webhook (`?secret=` or `X-Sevflow-Webhook-Secret`).
    jira_webhook_secret: SecretStr | None = None
    # Where people reach the HTTP API (the links in pages and confirmations); default: http_host:http_port.
    public_url: str | None = None
    # Signs the acknowledge links in pages; default: a key made once in data_dir (page-link.key), which
    # every process of one deployment must share (set this where they do not share a data_dir).
    page_link_secret: SecretStr | None = None
    # Twilio (SMS and voice): the account, its auth token (or an API key and secret), the sending number
    # (E.164) or Messaging Service SID; twilio_api_url another base URL (our emulator in tests).
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_key: str | None = None
    twilio_api_secret: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_url: str | None = None
    # Email: smtp://user:pass@host:587?starttls=true (smtps:// for implicit TLS), and the From address.
    smtp_url: SecretStr | None = None
    smtp_from: str | None = None
    # host:port where `sevflow worker` serves the Temporal SDK's Prometheus metrics; unset: not served.
    worker_metrics_address: Annotated[str | None, AfterValidator(_address)] = None
    # Workflows a worker keeps in memory between their tasks (unset: the SDK's 1000); fewer bound its
    # memory at the cost of replaying evicted histories. Not 0: without a cache the SDK cancels a local
    # activity still running when its task ends (the incident's register is one), and again on every
    # replay, so no incident would ever register.
    worker_max_cached_workflows: int | None = Field(default=None, ge=1)
    # On: workflows run in the SDK's sandbox, which imports a workflow's module afresh for every new run
    # and checks each call against its restrictions; off (the default): they run as plain Python, as
    # the SDK's UnsandboxedWorkflowRunner does. The sandbox cost about 15 ms of worker CPU per new
    # incident, a third of it (docs/PERFORMANCE.md); the tests run every workflow in it, and a harness
    # test keeps workflow code off the calls it restricts (docs/ARCHITECTURE.md, "Determinism").
    worker_workflow_sandbox: bool = False
    # Off: this worker leaves the handoff workflows and report schedules as they are (another worker
    # process keeps them in step with sevflow.yaml, or the server has no schedules, as Temporal's
    # time-skipping test server); on (the default), every worker start makes them match the config.
    worker_sync_schedules: bool = True

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'sevflow.db'}"

    @property
    def resolved_config_path(self) -> Path | None:
        """SEVFLOW_CONFIG when set; else ./sevflow.yaml when it exists; else built-in defaults."""
        if self.config is not None:
            return self.config
        default = Path("sevflow.yaml")
        return default if default.exists() else None


def page_link_secret(settings: Settings) -> str:
    """The secret acknowledge links are signed with, for the worker that sends them and the API that
    takes them back: SEVFLOW_PAGE_LINK_SECRET, else a key made once in data_dir (page-link.key,
    readable by its owner only) that every later process sharing that data_dir reads."""
    if settings.page_link_secret is not None:
        return settings.page_link_secret.get_secret_value()
    path = settings.data_dir / PAGE_LINK_KEY_FILE
    try:
        if not path.exists():
            _make_key(path)
        key = path.read_text().strip()
    except OSError as err:
        raise ConfigError(
            f"cannot keep the acknowledge links' key in {path} ({err.strerror or err}): "
            "set SEVFLOW_PAGE_LINK_SECRET, or SEVFLOW_DATA_DIR to a directory sevflow may write"
        ) from None
    if not key:
        raise ConfigError(f"{path} is empty: delete it (a new key is made) or set SEVFLOW_PAGE_LINK_SECRET")
    return key


def _make_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then linked into place: of two processes starting at once one key wins, and
    # nobody reads a half-written file.
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink()

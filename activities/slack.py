"""SlackChat: the chat port on Slack's Web API, through slack_sdk's WebClient.

slack_sdk's own retry handlers are turned off: Temporal retries, with backoff and Slack's
Retry-After, and every attempt shows in the workflow's history.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from activities.chat import Blocks, PermanentChatError, RateLimited
from sevflow.contracts import MessageRef

# Errors that another attempt cannot fix: the workflow records them and goes on.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "no_permission",
        "restricted_action",
        "invalid_blocks",
        "msg_too_long",
        "invalid_name",
        "invalid_name_specials",
        "invalid_name_maxlength",
        "message_not_found",
        "cant_update_message",
        "cant_archive_general",
    }
)
# Inviting people who are already there, or who cannot be found, must not stop the rest.
IGNORED_INVITE_ERRORS = frozenset(
    {"already_in_channel", "cant_invite_self", "user_not_found", "users_not_found"}
)
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def slack_client(token: str, base_url: str | None = None, timeout: int = 10) -> WebClient:
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=timeout)
    client.retry_handlers = []
    return client


class SlackChat:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._ids: dict[str, str] = {}

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            if _json(method):
                response = self.client.api_call(method, json=params)
            else:
                response = self.client.api_call(method, data=params)
        except SlackApiError as err:
            status = err.response.status_code
            error = _error(err)
            if status == 429:
                retry_after = int(err.response.headers.get("Retry-After", "1") or 1)
                raise RateLimited(timedelta(seconds=retry_after)) from err
            if error in PERMANENT_ERRORS:
                raise PermanentChatError(f"Slack {method}: {error}") from err
            raise
        return dict(response.data) if isinstance(response.data, dict) else {}

    def create_channel(self, name: str) -> tuple[str, str]:
        candidate = name
        for attempt in range(2, 50):
            try:
                data = self._call("conversations.create", name=candidate)
            except SlackApiError as err:
                if _error(err) == "name_taken":
                    suffix = f"-{attempt}"
                    candidate = name[: 80 - len(suffix)] + suffix
                    continue
                raise
            channel = data["channel"]
            return str(channel["id"]), str(channel["name"])
        raise PermanentChatError(f"Slack conversations.create: every name like {name} is taken")

    def set_topic(self, channel: str, topic: str) -> None:
        self._call("conversations.setTopic", channel=channel, topic=topic)

    def invite(self, channel: str, users: list[str]) -> None:
        ids = [i for i in (self._user_id(u) for u in users) if i is not None]
        if not ids:
            return
        try:
            # force: one bad id must not stop the others (Slack fails the whole call otherwise).
            self._call("conversations.invite", channel=channel, users=",".join(ids), force="true")
        except SlackApiError as err:
            if _error(err) not in IGNORED_INVITE_ERRORS:
                raise

    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        params: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            params["blocks"] = blocks
        data = self._call("chat.postMessage", **params)
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        params: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks:
            params["blocks"] = blocks
        self._call("chat.update", **params)

    def archive(self, channel: str) -> None:
        try:
            self._call("conversations.archive", channel=channel)
        except SlackApiError as err:
            if _error(err) != "already_archived":
                raise

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        user_id = self._user_id(user)
        if user_id is None:
            raise PermanentChatError(f"Slack: no user {user!r} to message")
        try:
            data = self._call("conversations.open", users=user_id)
        except SlackApiError as err:
            if _error(err) in ("user_not_found", "user_disabled", "cannot_dm_bot"):
                raise PermanentChatError(f"Slack conversations.open: {_error(err)}") from err
            raise
        return self.post(str(data["channel"]["id"]), text, blocks)

    def mention(self, user: str) -> str:
        user_id = self._user_id(user)
        return f"<@{user_id}>" if user_id else f"@{user}"

    def _user_id(self, user: str) -> str | None:
        """A Slack user id for an id, an email (users.lookupByEmail) or a <@U..> mention."""
        user = user.strip().removeprefix("<@").removesuffix(">").split("|")[0]
        if _SLACK_ID.match(user):
            return user
        if "@" not in user:
            return None
        if user not in self._ids:
            try:
                data = self._call("users.lookupByEmail", email=user)
            except SlackApiError as err:
                if _error(err) in IGNORED_INVITE_ERRORS:
                    return None
                raise
            self._ids[user] = str(data["user"]["id"])
        return self._ids[user]


def _json(method: str) -> bool:
    # slack_sdk sends JSON to chat.* (blocks are nested); the rest take form fields.
    return method.startswith("chat.")


def _error(err: SlackApiError) -> str:
    """Slack's `error` code, or "" when the body was not Slack's JSON (a proxy's 5xx page)."""
    data = err.response.data
    return str(data.get("error", "")) if isinstance(data, dict) else ""

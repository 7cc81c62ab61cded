"""SlackChat: the chat port on Slack's Web API, through slack_sdk's WebClient.

slack_sdk's own retry handlers are turned off: Temporal retries, with backoff and Slack's
Retry-After, and every attempt shows in the workflow's history.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from activities.chat import Blocks, PermanentChatError, RateLimited
from sevflow.contracts import MessageRef
from sevflow.slack.text import escape_keeping_mentions

# Errors of any Web API call that another attempt cannot fix (the channel, the token, the scopes).
PERMANENT_CALL_ERRORS = frozenset(
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
    }
)
# Errors of the chat calls that another attempt cannot fix: the workflow records them and goes on.
PERMANENT_ERRORS = PERMANENT_CALL_ERRORS | frozenset(
    {
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
_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
# Message metadata (Slack's `metadata` argument) carrying our idempotency key.
KEY_EVENT = "sevflow_message"
# How far before the activity was scheduled a retry looks for its earlier effect (clock skew, and
# Slack's `created` has a resolution of one second).
_LOOK_BACK = timedelta(minutes=1)
# Pages of history a retry reads at most: a message posted since the activity was scheduled is near
# the top of even a busy channel.
_MAX_PAGES = 5


def slack_client(token: str, base_url: str | None = None, timeout: int = 10) -> WebClient:
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=timeout)
    client.retry_handlers = []
    return client


class SlackChat:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._ids: dict[str, str] = {}
        self._conversations: dict[str, str] = {}
        self._bot_user: str | None = None

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
        return self.create_channel_since(name, None)

    def create_channel_since(self, name: str, since: datetime | None) -> tuple[str, str]:
        candidate = name
        for attempt in range(2, 50):
            try:
                data = self._call("conversations.create", name=candidate)
            except SlackApiError as err:
                if _error(err) == "name_taken":
                    # Only a retry looks (a list of every channel is not cheap): is it the one we made?
                    if since is not None and (ours := self._created_since(candidate, since)) is not None:
                        return ours
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
        return self._post(channel, text, blocks)

    def post_keyed(self, channel: str, text: str, key: str, blocks: Blocks | None = None) -> MessageRef:
        """Post with `key` in the message's metadata, where `find_keyed` looks for it."""
        return self._post(channel, text, blocks, {"event_type": KEY_EVENT, "event_payload": {"key": key}})

    def _post(
        self, channel: str, text: str, blocks: Blocks | None, metadata: dict[str, Any] | None = None
    ) -> MessageRef:
        params: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            params["blocks"] = blocks
        if metadata:
            params["metadata"] = metadata
        data = self._call("chat.postMessage", **params)
        return MessageRef(channel=str(data["channel"]), ts=str(data["ts"]))

    def find_keyed(self, channel: str, key: str, since: datetime) -> MessageRef | None:
        try:
            return self._find_keyed(channel, key, since)
        except PermanentChatError:
            # Nothing we may read (not a member: chat:write.public posts anyway; an app installed
            # before it asked for channels:history): post again rather than not at all.
            return None

    def _find_keyed(self, channel: str, key: str, since: datetime) -> MessageRef | None:
        conversation = self._conversation_id(channel)
        if conversation is None:
            return None
        cursor = ""
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {
                "channel": conversation,
                "oldest": f"{(since - _LOOK_BACK).timestamp():.6f}",
                "include_all_metadata": "true",
                "limit": 200,
            }
            if cursor:
                params["cursor"] = cursor
            data = self._call("conversations.history", **params)
            for message in data.get("messages", []):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == KEY_EVENT and payload.get("key") == key:
                    return MessageRef(channel=conversation, ts=str(message["ts"]))
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None
        return None

    def _created_since(self, name: str, since: datetime) -> tuple[str, str] | None:
        """The channel named `name` if this bot created it at or after `since`; None when it did not,
        or when the channel list cannot be read (then the retry opens one under another name)."""
        try:
            bot = self._bot_user_id()
            oldest = (since - _LOOK_BACK).timestamp()
            for channel in self._channels():
                if channel.get("name") == name:
                    if channel.get("creator") == bot and float(channel.get("created", 0)) >= oldest:
                        return str(channel["id"]), name
                    return None
        except PermanentChatError:
            pass
        return None

    def _bot_user_id(self) -> str:
        if self._bot_user is None:
            self._bot_user = str(self._call("auth.test")["user_id"])
        return self._bot_user

    def _conversation_id(self, channel: str) -> str | None:
        """The id history is read by, for an id, a `#name` or a user's DM; None when not found."""
        ref = channel.strip().removeprefix("#")
        if _CONVERSATION_ID.match(ref):
            return ref
        if ref not in self._conversations:
            user = self._user_id(ref)
            if user is not None:
                found: str | None = str(self._call("conversations.open", users=user)["channel"]["id"])
            else:
                found = self._find_channel_by_name(ref)
            if found is None:
                return None
            self._conversations[ref] = found
        return self._conversations[ref]

    def _find_channel_by_name(self, name: str) -> str | None:
        return next((str(c["id"]) for c in self._channels() if c.get("name") == name), None)

    def _channels(self) -> Iterator[dict[str, Any]]:
        """Every channel the bot can see that is not archived (conversations.list, page by page)."""
        cursor = ""
        while True:
            params: dict[str, Any] = {
                "types": "public_channel,private_channel",
                "exclude_archived": "true",
                "limit": 1000,
            }
            if cursor:
                params["cursor"] = cursor
            data = self._call("conversations.list", **params)
            yield from data.get("channels", [])
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return

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

    def literal(self, text: str) -> str:
        """`text` as mrkdwn shows it: `&`, `<` and `>` escaped, so `<!channel>` in a title stays text;
        well-formed `<@U…>` mentions, which sevflow writes itself, stay mentions."""
        return escape_keeping_mentions(text)

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

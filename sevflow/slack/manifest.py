"""What the Slack app must be allowed to do: the scopes of every Web API method sevflow calls, the events
it subscribes to, and a check of an app manifest (slack-app-manifest.yaml) against them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Method -> the scopes it needs, as groups: the bot token must hold at least one scope of each group.
# From the Web API reference, for public channels (incident channels are public).
METHOD_SCOPES: dict[str, tuple[frozenset[str], ...]] = {
    "auth.test": (),
    "chat.postMessage": (frozenset({"chat:write"}),),
    "chat.update": (frozenset({"chat:write"}),),
    "chat.postEphemeral": (frozenset({"chat:write"}),),
    "chat.getPermalink": (),
    "conversations.create": (frozenset({"channels:manage"}),),
    "conversations.setTopic": (frozenset({"channels:manage", "channels:write.topic"}),),
    "conversations.setPurpose": (frozenset({"channels:manage", "channels:write.topic"}),),
    "conversations.rename": (frozenset({"channels:manage"}),),
    "conversations.invite": (frozenset({"channels:manage"}),),
    "conversations.archive": (frozenset({"channels:manage"}),),
    "conversations.join": (frozenset({"channels:join"}),),
    "conversations.info": (frozenset({"channels:read", "groups:read"}),),
    "conversations.members": (frozenset({"channels:read", "groups:read"}),),
    "conversations.open": (frozenset({"im:write"}),),
    "conversations.history": (frozenset({"channels:history", "groups:history", "im:history"}),),
    "conversations.list": (frozenset({"channels:read", "groups:read"}),),
    "users.info": (frozenset({"users:read"}),),
    "users.lookupByEmail": (frozenset({"users:read.email"}), frozenset({"users:read"})),
    "views.open": (),
    "views.update": (),
    "views.push": (),
}

# Methods sevflow calls or will call with the bot token: the chat backend (channels, topic, invites,
# the card, archive), the handlers (ephemeral answers, modals) and direct messages to owners.
METHODS_CALLED: tuple[str, ...] = (
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "conversations.create",
    "conversations.setTopic",
    "conversations.invite",
    "conversations.archive",
    "conversations.join",
    "conversations.info",
    "conversations.open",
    # A retry whose earlier attempt's answer was lost looks for the message or channel it made.
    "conversations.history",
    "conversations.list",
    "users.info",
    "users.lookupByEmail",
    "views.open",
)

# Posting to the team's announce channel without joining it first needs chat:write.public.
EXTRA_SCOPES: dict[str, str] = {
    "chat:write.public": "announce in a team channel the bot has not joined",
    "commands": "the /incident slash command",
}

# Events sevflow subscribes to (as the bot), why, and the scopes Slack requires for each (one of).
BOT_EVENTS: dict[str, tuple[str, frozenset[str]]] = {
    "member_joined_channel": (
        "a responder joining an incident channel goes on the timeline",
        frozenset({"channels:read", "groups:read"}),
    ),
    "channel_archive": (
        "someone archived an incident channel by hand: stop updating its card",
        frozenset({"channels:read"}),
    ),
    "channel_unarchive": ("the channel is back: resume updating its card", frozenset({"channels:read"})),
    "app_uninstalled": ("stop calling Slack, and say so on the dashboard", frozenset()),
    "tokens_revoked": ("the same, when the bot token is revoked", frozenset()),
}


def missing_scopes(methods: Iterable[str], scopes: Iterable[str]) -> dict[str, list[str]]:
    """Method -> the scope groups (written `a or b`) it needs and `scopes` lack; unknown methods are
    reported as `unknown method` so that a new call cannot slip past the check."""
    held = set(scopes)
    missing: dict[str, list[str]] = {}
    for method in methods:
        if method not in METHOD_SCOPES:
            missing[method] = ["unknown method: add it to sevflow.slack.manifest.METHOD_SCOPES"]
            continue
        lacking = [" or ".join(sorted(group)) for group in METHOD_SCOPES[method] if not group & held]
        if lacking:
            missing[method] = lacking
    return missing


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def check_manifest(
    manifest: Mapping[str, Any],
    *,
    methods: Iterable[str] = METHODS_CALLED,
    command: str = "/incident",
) -> list[str]:
    """Problems of an app manifest for sevflow, one sentence each; [] when it is fit."""
    problems: list[str] = []
    if _get(manifest, "_metadata", "major_version") not in (1, 2):
        problems.append("_metadata.major_version must be 1 or 2")
    if not _get(manifest, "display_information", "name"):
        problems.append("display_information.name is missing")
    if not _get(manifest, "features", "bot_user", "display_name"):
        problems.append("features.bot_user.display_name is missing: sevflow posts as a bot")
    bot_scopes = _get(manifest, "oauth_config", "scopes", "bot")
    scopes = [s for s in bot_scopes if isinstance(s, str)] if isinstance(bot_scopes, list) else []
    for method, lacking in missing_scopes(methods, scopes).items():
        problems.append(f"{method} needs the bot scope {', '.join(lacking)}")
    for scope, why in EXTRA_SCOPES.items():
        if scope not in scopes:
            problems.append(f"the bot scope {scope} is missing ({why})")
    commands = _get(manifest, "features", "slash_commands")
    found = next(
        (c for c in commands or [] if isinstance(c, Mapping) and c.get("command") == command),
        None,
    )
    if found is None:
        problems.append(f"features.slash_commands has no {command}")
    else:
        if not found.get("description"):
            problems.append(f"{command} needs a description")
        if found.get("should_escape") is not True:
            problems.append(f"{command} needs should_escape: true, so that mentions arrive as user ids")
    socket = _get(manifest, "settings", "socket_mode_enabled") is True
    if not socket:
        if found is not None and not str(found.get("url", "")).endswith("/slack/commands"):
            problems.append(f"{command} url must end in /slack/commands")
        if not str(_get(manifest, "settings", "interactivity", "request_url") or "").endswith(
            "/slack/interactions"
        ):
            problems.append("settings.interactivity.request_url must end in /slack/interactions")
        if not str(_get(manifest, "settings", "event_subscriptions", "request_url") or "").endswith(
            "/slack/events"
        ):
            problems.append("settings.event_subscriptions.request_url must end in /slack/events")
    if _get(manifest, "settings", "interactivity", "is_enabled") is not True:
        problems.append("settings.interactivity.is_enabled must be true: the card's buttons need it")
    events = _get(manifest, "settings", "event_subscriptions", "bot_events") or []
    for event in events:
        if event not in BOT_EVENTS:
            problems.append(f"bot event {event} is not one sevflow handles")
            continue
        needed = BOT_EVENTS[event][1]
        if needed and not needed & set(scopes):
            problems.append(f"bot event {event} needs the scope {' or '.join(sorted(needed))}")
    return problems

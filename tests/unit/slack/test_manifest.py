"""slack-app-manifest.yaml: the shape Slack's manifest reference documents, and bot scopes that cover
every Web API method sevflow calls (found by reading the code, so a new call cannot slip past)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from sevflow.config import parse_config
from sevflow.slack.commands import USAGE
from sevflow.slack.manifest import (
    BOT_EVENTS,
    METHOD_SCOPES,
    METHODS_CALLED,
    check_manifest,
    missing_scopes,
)

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "slack-app-manifest.yaml"
# Code that talks to Slack's Web API with the bot token.
SLACK_CALLERS = ["activities", "starter", "worker", "sevflow", "workflows"]
# Not a file name that looks like one (the importers read an export's `users.json`).
_METHOD = re.compile(
    r"^(auth|chat|conversations|users|views|reactions|pins|bookmarks|files|usergroups|team|dnd)"
    r"\.(?!json$)[a-zA-Z]+$"
)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def methods_in_code() -> set[str]:
    """Slack method names written as string literals (`_call("chat.postMessage", ...)`) and WebClient
    methods called by name (`client.chat_postMessage(...)`)."""
    client_methods = {name for name in dir(WebClient) if not name.startswith("_")}
    found: set[str] = set()
    for folder in SLACK_CALLERS:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and _METHOD.match(node.value)
                ):
                    found.add(node.value)
                elif isinstance(node, ast.Attribute) and node.attr in client_methods and "_" in node.attr:
                    family, _, name = node.attr.partition("_")
                    method = f"{family}.{re.sub(r'_([a-z])', lambda m: m.group(1).upper(), name)}"
                    if _METHOD.match(method):
                        found.add(method)
    return found


def test_manifest_is_fit_for_sevflow(manifest: dict[str, Any]) -> None:
    assert check_manifest(manifest) == []


def test_scopes_cover_every_method_the_code_calls(manifest: dict[str, Any]) -> None:
    called = methods_in_code()
    assert {"chat.postMessage", "chat.update", "conversations.create"} <= called  # the scan finds them
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these to sevflow.slack.manifest.METHOD_SCOPES: {sorted(unknown)}"
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert missing_scopes(called | set(METHODS_CALLED), scopes) == {}


def test_manifest_shape(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["display_information"]["name"] == "sevflow"
    assert len(manifest["display_information"]["description"]) <= 140
    assert 174 <= len(manifest["display_information"]["long_description"]) <= 4000
    assert re.match(r"^#[0-9a-fA-F]{6}$", manifest["display_information"]["background_color"])
    assert manifest["features"]["bot_user"]["display_name"] == "sevflow"
    command, oncall = manifest["features"]["slash_commands"]
    assert oncall["command"] == "/oncall" and oncall["url"] == "https://sevflow.example.com/slack/commands"
    assert oncall["should_escape"] is True
    assert command["command"] == parse_config("").slack.command == "/incident"
    assert command["url"] == "https://sevflow.example.com/slack/commands"
    assert command["should_escape"] is True
    settings = manifest["settings"]
    assert settings["interactivity"] == {
        "is_enabled": True,
        "request_url": "https://sevflow.example.com/slack/interactions",
    }
    assert settings["event_subscriptions"]["request_url"] == "https://sevflow.example.com/slack/events"
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False


def test_the_usage_hint_names_every_verb_of_the_command(manifest: dict[str, Any]) -> None:
    """Each `|`-separated part of the hint starts with a verb the parser knows, and every verb has one:
    a new subcommand without its hint (as `link` was) fails here."""
    command = manifest["features"]["slash_commands"][0]
    hint: str = command["usage_hint"]
    verbs = [part.split()[0] for part in hint.split("|")]
    assert sorted(verbs) == sorted(USAGE), f"usage_hint lacks {sorted(set(USAGE) - set(verbs))}"
    assert len(hint) <= 1000  # Slack's limit (the manifest schema's maxLength)


def test_scopes_are_the_ones_asked_for(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert {
        "channels:manage",
        "channels:read",
        "channels:join",
        "chat:write",
        "chat:write.public",
        "commands",
        "groups:write",
        "im:write",
        "users:read",
        "users:read.email",
    } <= set(scopes)
    assert "user" not in manifest["oauth_config"]["scopes"]  # the bot token only


def test_every_event_is_justified(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert events and set(events) <= set(BOT_EVENTS)
    for event in events:
        assert BOT_EVENTS[event][0]


def test_check_finds_what_is_missing(manifest: dict[str, Any]) -> None:
    broken = yaml.safe_load(MANIFEST.read_text())
    broken["oauth_config"]["scopes"]["bot"] = [
        s for s in manifest["oauth_config"]["scopes"]["bot"] if s != "chat:write"
    ]
    broken["features"]["slash_commands"][0]["should_escape"] = False
    broken["settings"]["event_subscriptions"]["bot_events"].append("message.channels")
    problems = check_manifest(broken)
    assert "chat.postMessage needs the bot scope chat:write" in problems
    assert any("should_escape: true" in p for p in problems)
    assert "bot event message.channels is not one sevflow handles" in problems
    assert missing_scopes(["chat.deleteEverything"], ["chat:write"]) == {
        "chat.deleteEverything": ["unknown method: add it to sevflow.slack.manifest.METHOD_SCOPES"]
    }
    assert missing_scopes(["users.lookupByEmail"], ["users:read.email"]) == {
        "users.lookupByEmail": ["users:read"]
    }


def test_the_oncall_usage_hint_reads_as_the_oncall_parser_reads(manifest: dict[str, Any]) -> None:
    from sevflow.slack.oncall_command import parse_oncall_command

    oncall = manifest["features"]["slash_commands"][1]
    verbs = {
        parse_oncall_command(
            part.replace("ID", "1").replace("MY-SHIFT THEIR-SHIFT", "2026-12-24 2026-12-31")
        ).verb
        for part in oncall["usage_hint"].split("|")
    }
    assert verbs == {
        "cover",
        "leave",
        "swap",
        "confirm",
        "remove",
        "edit",
        "list",
        "silence",
        "silences",
        "unsilence",
    }

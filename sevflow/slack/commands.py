"""The `/incident` slash command: its text parsed into intents, and its help.

    /incident declare "checkout 5xx" sev1 service:checkout
    /incident ack            (in an incident's channel: that incident)
    /incident sev INC-7 SEV2
    /incident lead @alice
    /incident update Rolled back the deploy; error rate falling
    /incident statuspage "Checkout errors are falling; we are monitoring"
    /incident action "Bound the connection pool" @alice 2w
    /incident link repeat-of INC-4

The incident number (`INC-7`, `#7` or `7`) may be left out in an incident's channel: the handler passes
that channel's incident as `default_number`. Anything that cannot be understood raises CommandError with
a sentence for the person and the usage line of the subcommand; nothing else is ever raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import ValidationError

from sevflow.action_items.due import parse_due
from sevflow.durations import parse_duration
from sevflow.incident.commands import SNOOZE_CHOICES
from sevflow.incident.models import Role
from sevflow.incident.numbers import parse_incident_number, parse_repeat_of
from sevflow.policy import Severity, severity_from_word
from sevflow.slack.intents import (
    AckIntent,
    ActionItemIntent,
    AnyIntent,
    BreakGlassIntent,
    CommandError,
    DeclareIntent,
    HelpIntent,
    Interaction,
    LinkRepeatIntent,
    MitigateIntent,
    OpenDeclareModal,
    OpenUpdateModal,
    ReopenIntent,
    RepageIntent,
    ResolveIntent,
    RoleIntent,
    SeverityIntent,
    SnoozeIntent,
    StatusIntent,
    StatusPageIntent,
    UpdateIntent,
)
from sevflow.slack.text import SLACK_USER_ID, mention_id, to_plain

DEFAULT_COMMAND = "/incident"

# Subcommand -> (arguments, what it does). No `<`, `>` or `&`: the help is shown as mrkdwn.
USAGE: dict[str, tuple[str, str]] = {
    "declare": ('"title" [SEV0-4] [service:name]', "declare an incident; with no arguments, opens a form"),
    "ack": ("[INC-n]", "acknowledge it; you become the lead if there is none"),
    "sev": (
        "[INC-n] SEVn",
        "change the severity: SEV0 emergency, SEV1 critical, SEV2 major, SEV3 minor, SEV4 info",
    ),
    "lead": ("[INC-n] @person", "make someone the lead (nobody named: you)"),
    "comms": ("[INC-n] @person", "make someone the comms lead (nobody named: you)"),
    "assign": ("[INC-n] @person", "make someone the assignee, who fixes it (nobody named: you)"),
    "scribe": ("[INC-n] @person", "make someone the scribe (nobody named: you)"),
    "update": ("[INC-n] text", "post a status update; with no text, opens a form"),
    "statuspage": (
        '[INC-n] "text"',
        "publish a public update on the status page, for customers (comms or the lead)",
    ),
    "mitigate": ("[INC-n]", "mark it mitigated: the impact stopped, the fix is not final"),
    "resolve": ("[INC-n]", "resolve it: users are no longer affected"),
    "reopen": ("[INC-n]", "reopen a resolved incident"),
    "repage": (
        "[INC-n]",
        "page the ladder again from its first level on today's on-call configuration (it keeps the one "
        "it started with otherwise)",
    ),
    "status": ("[INC-n]", "show it (outside an incident channel and without a number: every open one)"),
    "snooze": ("[INC-n] 30m|1h|2h", "snooze the update reminder"),
    "action": (
        '[INC-n] "title" @owner [due]',
        "add an action item; its owner gets a DM and is chased until it is done "
        "(due: 2026-12-01, 3d, 2w or friday; default in 14 days)",
    ),
    "link": (
        "[INC-n] repeat-of INC-m|none",
        "mark it a repeat of an earlier incident (counted in the repeat rate); none unmarks it",
    ),
    "break-glass": (
        '[INC-n] "why"',
        "act as an admin on it when nobody who may can be reached (people of sevflow.yaml only; "
        "on the timeline and in the audit log)",
    ),
    "help": ("", "this list"),
}

ALIASES: dict[str, str] = {
    "acknowledge": "ack",
    "severity": "sev",
    "assignee": "assign",
    "mitigated": "mitigate",
    "resolved": "resolve",
    "show": "status",
    "info": "status",
    "?": "help",
    "actions": "action",
    "todo": "action",
    "status-page": "statuspage",
    "public": "statuspage",
    "breakglass": "break-glass",
    "break_glass": "break-glass",
}

ROLE_VERBS: dict[str, Role] = {
    "lead": Role.LEAD,
    "comms": Role.COMMS,
    "assign": Role.ASSIGNEE,
    "scribe": Role.SCRIBE,
}

_NUMBER = re.compile(r"^(?:inc-?|#)?[0-9]+$", re.IGNORECASE)
_PREFIXED_NUMBER = re.compile(r"^(?:inc-?|#)[0-9]+$", re.IGNORECASE)
_SEV = re.compile(r"^sev[-_]?[0-9]+$", re.IGNORECASE)
_DURATION = re.compile(r"^[0-9]+[smhd]", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_OPEN_QUOTES = '"“”„«'
_CLOSE_QUOTES = '"“”»'


def usage(verb: str, command: str = DEFAULT_COMMAND) -> str:
    """The usage line of one subcommand, like `/incident ack [INC-n]`."""
    args = USAGE[verb][0]
    return f"{command} {verb} {args}".rstrip()


def help_text(command_name: str = DEFAULT_COMMAND) -> str:
    """Every subcommand, one per line, for an ephemeral answer to `/incident help`."""
    width = max(len(usage(verb, command_name)) for verb in USAGE)
    lines = [f"{usage(verb, command_name):<{width}}  {what}" for verb, (_, what) in USAGE.items()]
    return "\n".join(
        [
            f"{command_name}: run incidents from Slack.",
            *lines,
            "In an incident's channel INC-n may be left out. Name people as @mentions.",
        ]
    )


def help_for(topic: str | None, command_name: str = DEFAULT_COMMAND) -> str:
    """The answer to `/incident help [topic]`: one subcommand's line, or the whole list."""
    verb = ALIASES.get(topic, topic) if topic else None
    if verb in USAGE:
        return f"{usage(verb, command_name)}  {USAGE[verb][1]}"
    return help_text(command_name)


# --- tokens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    quoted: bool = False


def _tokenize(text: str) -> list[_Token]:
    """Words split on whitespace; "double quotes" (also typographic ones) group words; Slack markup
    such as `<https://x|two words>` stays one word. A quote that is never closed is dropped."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] in _OPEN_QUOTES:
            end = next((j for j in range(i + 1, n) if text[j] in _CLOSE_QUOTES), -1)
            if end > 0:
                tokens.append(_Token(text[i + 1 : end], start, end + 1, quoted=True))
                i = end + 1
                continue
            i += 1  # never closed: read on as if it were not there
            if i >= n or text[i].isspace():
                continue
        chars: list[str] = []
        while i < n and not text[i].isspace():
            if text[i] == "<":
                close = text.find(">", i)
                if close > 0:
                    chars.append(text[i : close + 1])
                    i = close + 1
                    continue
            chars.append(text[i])
            i += 1
        tokens.append(_Token("".join(chars), start, i))
    return tokens


def _is_number(token: _Token) -> bool:
    return not token.quoted and _NUMBER.match(token.text) is not None


def _number(token: _Token, verb: str, command: str) -> int:
    try:
        return parse_incident_number(token.text)
    except ValueError as err:
        raise CommandError(str(err), usage(verb, command)) from None


def _which(number: int | None, default: int | None, verb: str, command: str) -> int:
    if number is not None:
        return number
    if default is not None:
        return default
    raise CommandError(
        f"which incident? Name it, like `{command} {verb} INC-7`, "
        "or run the command in the incident's channel",
        usage(verb, command),
    )


def _severity(text: str, verb: str, command: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as err:
        raise CommandError(str(err), usage(verb, command)) from None


def _person(token: _Token, actor: str | None, verb: str, command: str) -> str:
    raw = token.text.strip()
    found = mention_id(raw)
    if found is not None:
        return found
    if raw.lower() == "me":
        if actor is None:
            raise CommandError("name the person as an @mention", usage(verb, command))
        return actor
    plain = to_plain(raw).strip()
    name = plain.removeprefix("@")
    if name.isdigit():
        raise CommandError(f"{plain!r} is not a person: name them as an @mention", usage(verb, command))
    if SLACK_USER_ID.match(name) or _EMAIL.match(name) or (_NAME.match(name) and len(name) <= 80):
        return name
    raise CommandError(f"{plain!r} is not a person: name them as an @mention", usage(verb, command))


# --- parsing ---------------------------------------------------------------------------------------


def parse_command(
    text: str,
    *,
    default_number: int | None = None,
    command: str = DEFAULT_COMMAND,
    actor: str | None = None,
    today: date | None = None,
) -> AnyIntent:
    """The intent of a slash command's `text` (everything after the command name).

    `default_number` is the incident of the channel the command was typed in, if any; `actor` is the
    Slack user id of the person typing, for `lead` without a name and `me`; `today` (default: today in
    UTC) is what relative due dates such as `3d` count from.
    Raises CommandError (only) when the text cannot be understood.
    """
    try:
        return _parse(text, default_number, command, actor, today or datetime.now(UTC).date())
    except CommandError:
        raise
    except (ValueError, ValidationError) as err:  # a model's own check; say it plainly
        raise CommandError(_first_error(err)) from None


def _first_error(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(err)


def _parse(text: str, default: int | None, command: str, actor: str | None, today: date) -> AnyIntent:
    tokens = _tokenize(text)
    if not tokens:
        return HelpIntent()
    word = tokens[0].text.lower()
    verb = ALIASES.get(word, word)
    args = tokens[1:]
    if tokens[0].quoted or verb not in USAGE:
        shown = to_plain(tokens[0].text)[:40]
        raise CommandError(
            f"unknown command {shown!r}: use one of {', '.join(USAGE)}", f"{command} help lists them all"
        )
    if verb == "help":
        topic = args[0].text.lower() if args else None
        topic = ALIASES.get(topic, topic) if topic else None
        return HelpIntent(topic=topic if topic in USAGE else None)
    if verb == "declare":
        return _declare(args, command)
    if verb == "update":
        return _update(text, args, default, command)
    if verb == "statuspage":
        return _statuspage(text, args, default, command)
    if verb == "break-glass":
        return _break_glass(text, args, default, command)
    if verb in ROLE_VERBS:
        return _role(verb, args, default, command, actor)
    if verb == "sev":
        return _sev(args, default, command)
    if verb == "snooze":
        return _snooze(args, default, command)
    if verb == "action":
        return _action(args, default, command, actor, today)
    if verb == "link":
        return _link(args, default, command)
    return _simple(verb, args, default, command)


def _declare(args: list[_Token], command: str) -> DeclareIntent | OpenDeclareModal:
    title: list[str] = []
    severity: Severity | None = None
    service: str | None = None
    # With the title in quotes, a word of the severity table outside them is the severity, as in
    # `/incident sev` and on every other surface (`declare "checkout down" critical` is SEV1); in an
    # unquoted title only SEVn is, so `declare checkout critical path slow` keeps its words.
    quoted_title = any(token.quoted for token in args)
    for token in args:
        word = not token.quoted and quoted_title and severity_from_word(token.text) is not None
        if not token.quoted and (_SEV.match(token.text) or word):
            if severity is not None:
                raise CommandError("give the severity once", usage("declare", command))
            severity = _severity(token.text, "declare", command)
        elif not token.quoted and token.text.lower().startswith("service:"):
            if service is not None:
                raise CommandError("give the service once", usage("declare", command))
            service = to_plain(token.text[len("service:") :]).strip()
            if not service or not _NAME.match(service) or len(service) > 100:
                raise CommandError(
                    "write the service like service:checkout (letters, digits, '-', '_' and '.')",
                    usage("declare", command),
                )
        else:
            words = to_plain(token.text).split()
            title.extend(words)
    if not title:
        return OpenDeclareModal(severity=severity, service=service)
    joined = " ".join(title)
    if len(joined) > 300:
        raise CommandError(
            f"the title is {len(joined)} characters: keep it under 300", usage("declare", command)
        )
    return DeclareIntent(title=joined, severity=severity, service=service)


def _update(
    text: str, args: list[_Token], default: int | None, command: str
) -> UpdateIntent | OpenUpdateModal:
    number: int | None = None
    rest = args
    # In an incident's channel a bare number starts the text ("3 pods restarted"); INC-7 still names one.
    if args and _is_number(args[0]) and (default is None or _PREFIXED_NUMBER.match(args[0].text)):
        number = _number(args[0], "update", command)
        rest = args[1:]
    which = _which(number, default, "update", command)
    if len(rest) == 1 and rest[0].quoted:
        body = to_plain(rest[0].text).strip()
    else:
        body = to_plain(text[rest[0].start :]).strip() if rest else ""
    if not body:
        return OpenUpdateModal(number=which)
    if len(body) > 4000:
        raise CommandError(
            f"the update is {len(body)} characters: keep it under 4000", usage("update", command)
        )
    return UpdateIntent(number=which, text=body)


def _statuspage(text: str, args: list[_Token], default: int | None, command: str) -> StatusPageIntent:
    """Like `update`, but the text is required: there is no form, and an empty public update is a
    mistake rather than a request for one."""
    number: int | None = None
    rest = args
    if args and _is_number(args[0]) and (default is None or _PREFIXED_NUMBER.match(args[0].text)):
        number = _number(args[0], "statuspage", command)
        rest = args[1:]
    which = _which(number, default, "statuspage", command)
    if len(rest) == 1 and rest[0].quoted:
        body = to_plain(rest[0].text).strip()
    else:
        body = to_plain(text[rest[0].start :]).strip() if rest else ""
    if not body:
        raise CommandError(
            'what should customers read? Write it after the command, like "We are investigating '
            'errors at checkout"',
            usage("statuspage", command),
        )
    if len(body) > 4000:
        raise CommandError(
            f"the update is {len(body)} characters: keep it under 4000", usage("statuspage", command)
        )
    return StatusPageIntent(number=which, text=body)


def _break_glass(text: str, args: list[_Token], default: int | None, command: str) -> BreakGlassIntent:
    """`[INC-n] "why"`: the reason is required, as on the CLI and the API."""
    number: int | None = None
    rest = args
    if args and _is_number(args[0]) and (default is None or _PREFIXED_NUMBER.match(args[0].text)):
        number = _number(args[0], "break-glass", command)
        rest = args[1:]
    which = _which(number, default, "break-glass", command)
    if len(rest) == 1 and rest[0].quoted:
        reason = to_plain(rest[0].text).strip()
    else:
        reason = to_plain(text[rest[0].start :]).strip() if rest else ""
    if not reason:
        raise CommandError(
            "say why you break the glass: it goes on the timeline and in the audit log",
            usage("break-glass", command),
        )
    if len(reason) > 500:
        raise CommandError(
            f"the reason is {len(reason)} characters: keep it under 500", usage("break-glass", command)
        )
    return BreakGlassIntent(number=which, reason=reason)


def _link(args: list[_Token], default: int | None, command: str) -> LinkRepeatIntent:
    """`[INC-n] repeat-of INC-m|none`: the relation is named, so that later links of other kinds can
    share the subcommand without an ambiguous `link INC-4`."""
    rest = args
    number: int | None = None
    if rest and _is_number(rest[0]):
        number = _number(rest[0], "link", command)
        rest = rest[1:]
    relation = rest[0].text.lower().replace("_", "-") if rest and not rest[0].quoted else ""
    if relation not in ("repeat-of", "repeat") or len(rest) != 2:
        raise CommandError(
            "say what it repeats, like `repeat-of INC-4` (or `repeat-of none` to unmark it)",
            usage("link", command),
        )
    try:
        earlier = parse_repeat_of(rest[1].text)
    except ValueError as err:
        raise CommandError(str(err), usage("link", command)) from None
    return LinkRepeatIntent(number=_which(number, default, "link", command), repeat_of=earlier)


def _role(verb: str, args: list[_Token], default: int | None, command: str, actor: str | None) -> RoleIntent:
    number: int | None = None
    user: str | None = None
    for token in args:
        if _is_number(token) and number is None:
            number = _number(token, verb, command)
        elif user is None:
            user = _person(token, actor, verb, command)
        else:
            raise CommandError(f"{verb} takes one person", usage(verb, command))
    if user is None:
        if actor is None:
            raise CommandError("name the person as an @mention", usage(verb, command))
        user = actor
    return RoleIntent(number=_which(number, default, verb, command), role=ROLE_VERBS[verb], user=user)


def _sev(args: list[_Token], default: int | None, command: str) -> SeverityIntent:
    if not args:
        raise CommandError("which severity? SEV0 to SEV4", usage("sev", command))
    if len(args) > 2:
        raise CommandError("sev takes an incident number and a severity", usage("sev", command))
    number: int | None = None
    if len(args) == 2:
        if not _is_number(args[0]):
            raise CommandError(f"{to_plain(args[0].text)!r} is not an incident number", usage("sev", command))
        number = _number(args[0], "sev", command)
    severity = _severity(args[-1].text, "sev", command)
    return SeverityIntent(number=_which(number, default, "sev", command), severity=severity)


def _snooze(args: list[_Token], default: int | None, command: str) -> SnoozeIntent:
    number: int | None = None
    duration_text: str | None = None
    for token in args:
        if not token.quoted and _DURATION.match(token.text) and duration_text is None:
            duration_text = token.text
        elif _is_number(token) and number is None:
            number = _number(token, "snooze", command)
        else:
            raise CommandError(
                f"{to_plain(token.text)[:40]!r} is not understood here", usage("snooze", command)
            )
    if duration_text is None:
        raise CommandError("for how long? 30m, 1h or 2h", usage("snooze", command))
    try:
        duration = parse_duration(duration_text)
    except ValueError as err:
        raise CommandError(str(err), usage("snooze", command)) from None
    if duration not in SNOOZE_CHOICES:
        raise CommandError("snooze for 30m, 1h or 2h", usage("snooze", command))
    return SnoozeIntent(number=_which(number, default, "snooze", command), duration=duration)


def _names_someone(token: _Token) -> bool:
    """An @mention or an @name: where an unquoted title ends and the owner begins."""
    return not token.quoted and (mention_id(token.text) is not None or token.text.startswith("@"))


def _action(
    args: list[_Token], default: int | None, command: str, actor: str | None, today: date
) -> ActionItemIntent:
    """`[INC-n] "title" @owner [due]`; without quotes the title is every word before the @owner."""
    rest = args
    number: int | None = None
    # In an incident's channel a bare number may start the title ("2 more replicas"); INC-7 names one.
    if rest and _is_number(rest[0]) and (default is None or _PREFIXED_NUMBER.match(rest[0].text)):
        number = _number(rest[0], "action", command)
        rest = rest[1:]
    which = _which(number, default, "action", command)
    if rest and rest[0].quoted:
        title_tokens, rest = rest[:1], rest[1:]
        if not rest:
            raise CommandError(
                "who owns it? Name them as an @mention after the title", usage("action", command)
            )
    else:
        at = next((i for i, token in enumerate(rest) if _names_someone(token)), None)
        if at is None:
            raise CommandError(
                'who owns it? Write the title in quotes and name the owner as an @mention, like "Add '
                'retries" @alice',
                usage("action", command),
            )
        title_tokens, rest = rest[:at], rest[at:]
    title = " ".join(to_plain(" ".join(t.text for t in title_tokens)).split())
    if not title:
        raise CommandError('what will be done? Give a title, like "Add retries"', usage("action", command))
    if len(title) > 300:
        raise CommandError(
            f"the title is {len(title)} characters: keep it under 300", usage("action", command)
        )
    owner = _person(rest[0], actor, "action", command)
    rest = rest[1:]
    due: date | None = None
    if len(rest) > 1:
        extra = to_plain(" ".join(t.text for t in rest))[:40]
        raise CommandError(f"{extra!r} is not understood: give one due date", usage("action", command))
    if rest:
        text = to_plain(rest[0].text)
        try:
            due = parse_due(re.sub(r"^due:", "", text, flags=re.IGNORECASE), today)
        except ValueError as err:
            raise CommandError(str(err), usage("action", command)) from None
    return ActionItemIntent(number=which, title=title, owner=owner, due=due)


_SIMPLE: dict[str, type[AckIntent | MitigateIntent | ResolveIntent | ReopenIntent | RepageIntent]] = {
    "ack": AckIntent,
    "mitigate": MitigateIntent,
    "resolve": ResolveIntent,
    "reopen": ReopenIntent,
    "repage": RepageIntent,
}


def _simple(verb: str, args: list[_Token], default: int | None, command: str) -> AnyIntent:
    if len(args) > 1 or (args and not _is_number(args[0])):
        extra = " ".join(to_plain(t.text) for t in args)[:40]
        raise CommandError(f"{verb} takes only an incident number, not {extra!r}", usage(verb, command))
    number = _number(args[0], verb, command) if args else None
    if verb == "status":
        return StatusIntent(number=number if number is not None else default)
    return _SIMPLE[verb](number=_which(number, default, verb, command))


def parse_slash_command(
    form: Mapping[str, str],
    *,
    default_number: int | None = None,
    command: str | None = None,
) -> Interaction:
    """A slash command request (its decoded form fields) as an Interaction.

    Raises CommandError for text that cannot be understood; the handler answers it ephemerally."""
    user_id = form.get("user_id", "")
    intent = parse_command(
        form.get("text", ""),
        default_number=default_number,
        command=command or form.get("command") or DEFAULT_COMMAND,
        actor=user_id or None,
    )
    return Interaction(
        source="command",
        intent=intent,
        user_id=user_id,
        user_name=form.get("user_name") or None,
        team_id=form.get("team_id") or None,
        channel_id=form.get("channel_id") or None,
        trigger_id=form.get("trigger_id") or None,
        response_url=form.get("response_url") or None,
    )

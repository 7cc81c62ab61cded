"""The `slack` section (the chat backend) and `permissions` (who may do what)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from sevflow.config.schema.fields import EMAIL, SLACK_MENTION, SLACK_USER, check_channel, none_is_empty_list
from sevflow.incident.access import PermissionMatrix

_SLASH_COMMAND = re.compile(r"^/[a-z0-9_-]{1,31}$")


def _check_slash_command(value: str) -> str:
    cleaned = value.strip()
    if not _SLASH_COMMAND.match(cleaned):
        raise ValueError(
            f"invalid slash command {value!r}: write it like /incident (a '/', then at most 31 lowercase "
            "letters, digits, '-' or '_')"
        )
    return cleaned


def _check_invitee(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    cleaned = value.strip()
    found = SLACK_MENTION.match(cleaned)
    if found:
        return found.group(1)
    if SLACK_USER.match(cleaned) or EMAIL.match(cleaned):
        return cleaned
    raise ValueError(
        f"invalid invitee {value!r}: write a Slack user id like U0123ABCD or an email address "
        "(looked up with users.lookupByEmail)"
    )


def _days_or_never(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("never", "none", "off", "-"):
        return None
    return value


class SlackConfig(BaseModel):
    """The `slack` section. Tokens and the signing secret are not here: they come from the environment
    (SEVFLOW_SLACK_BOT_TOKEN, SEVFLOW_SLACK_SIGNING_SECRET)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The slash command's name, as in the app manifest.
    command: Annotated[str, AfterValidator(_check_slash_command)] = "/incident"
    # Where every incident is announced; when unset, the owning team's `teams.<team>.channel`.
    announce_channel: Annotated[str, AfterValidator(check_channel)] | None = None
    # Archive an incident's channel this many days after the incident ends; `never` keeps it.
    archive_after_days: Annotated[
        Annotated[int, Field(ge=0, le=3650)] | None, BeforeValidator(_days_or_never)
    ] = 7
    # Receive commands and buttons over Socket Mode (no public URL; needs SEVFLOW_SLACK_APP_TOKEN).
    socket_mode: bool = False
    # Invited to every incident channel besides the responders (who always are): ids or emails.
    invite: Annotated[
        tuple[Annotated[str, BeforeValidator(_check_invitee)], ...], BeforeValidator(none_is_empty_list)
    ] = ()

    @property
    def archive_after(self) -> timedelta | None:
        return timedelta(days=self.archive_after_days) if self.archive_after_days is not None else None


def _person_name(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        cleaned = value.strip()
        if not cleaned:
            raise ValueError("must not be empty: write a Slack user id, an email or a name")
        found = SLACK_MENTION.match(cleaned)
        return found.group(1) if found else cleaned
    return value


class PermissionsConfig(PermissionMatrix):
    """The `permissions` section: the admins, and who may do each action (`anyone` or a list of lead,
    comms, assignee, scribe and admin). Left out, or empty, it means the defaults of PermissionMatrix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Slack user ids, emails or names (as the CLI's --by and the API see people).
    admins: Annotated[
        tuple[Annotated[str, BeforeValidator(_person_name)], ...], BeforeValidator(none_is_empty_list)
    ] = ()

    @property
    def matrix(self) -> PermissionMatrix:
        """The matrix alone, as the incident workflow carries it in its state."""
        return PermissionMatrix.model_validate(self.model_dump(exclude={"admins"}))

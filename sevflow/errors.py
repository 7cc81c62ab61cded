"""Errors a person can act on. Their message is what the CLI prints and the API returns."""


class SevflowError(Exception):
    """A failure with a message written for the person who caused it."""


class IncidentNotFound(SevflowError):
    pass


class InvalidCommand(SevflowError):
    """A command the incident's current state refuses (for example an update on a resolved incident)."""


class ServiceUnavailable(SevflowError):
    """Temporal or the database cannot be reached. `retry_after`: the seconds its message tells the
    person to wait, when it names some (the HTTP API sends the same as Retry-After)."""

    retry_after: int | None = None


class ConfigError(SevflowError):
    pass


class DatabaseMissing(SevflowError):
    """The SQLite file a command was pointed at is not there, and the command may not make it."""


class IncidentIdTaken(SevflowError):
    """A run of an incident's workflow id other than the one its number was given to: Temporal forgot
    the ended run after its retention and the id was started again. Never the old incident's number."""

    def __init__(self, workflow_id: str, number: int) -> None:
        super().__init__(
            f"{workflow_id} was INC-{number}'s, whose run has ended: a later run of it is another incident"
        )
        self.workflow_id = workflow_id
        self.number = number

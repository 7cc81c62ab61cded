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

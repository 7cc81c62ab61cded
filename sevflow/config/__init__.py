"""sevflow.yaml: its typed model (schema) and how it is read and checked (loader)."""

from sevflow.config.loader import (
    ConfigProblem,
    InvalidConfig,
    check_config,
    check_config_text,
    load_config,
    parse_config,
)
from sevflow.config.schema import (
    BusinessHours,
    HolidayCalendar,
    ServiceConfig,
    SevflowConfig,
    TeamConfig,
    Weekday,
)

__all__ = [
    "BusinessHours",
    "ConfigProblem",
    "HolidayCalendar",
    "InvalidConfig",
    "ServiceConfig",
    "SevflowConfig",
    "TeamConfig",
    "Weekday",
    "check_config",
    "check_config_text",
    "load_config",
    "parse_config",
]

"""The `reports` section: the weekly CSV and the monthly review pack."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from sevflow.config.schema.fields import TimeZoneName, check_channel


class ReportsConfig(BaseModel):
    """The `reports` section: the weekly CSV (Mondays 09:00) and the monthly review pack (the 1st,
    09:00), both in `time_zone` (default: the top-level `timezone`), posted to `channel`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Annotated[str, AfterValidator(check_channel)] = "#incident-reports"
    time_zone: TimeZoneName | None = None
    weekly: bool = True
    monthly: bool = True

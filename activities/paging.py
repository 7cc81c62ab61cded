"""Paging activities: plan a level of an incident's ladder, and send one page and record it.

A page is sent at most once per key (the store is checked first) and always ends on the record:
delivered, failed (with the reason, after the last attempt), or unreachable (no way to reach that
person). Whether it fell outside the person's business hours is recorded for the burnout metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.chat import ChatPort, PermanentChatError, RateLimited
from activities.webhook import PermanentPageError, WebhookPort
from sevflow.calendar import BusinessCalendar
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import PLAN_ESCALATION_LEVEL, SEND_PAGE
from sevflow.paging.ladder import plan_level
from sevflow.paging.models import LevelPlan, PageOutcome, PageSent, PlanLevel, SendPage
from sevflow.slack.blocks import page_message
from sevflow.store.repository import StoredPage

log = logging.getLogger("sevflow.paging")

# Matches the workflow's retry policy (workflows/escalation.py PAGE_ATTEMPTS): the last attempt
# records the failure instead of raising, so every page ends on the record.
LAST_ATTEMPT = 6


class PageStore(Protocol):
    def page(self, key: str) -> StoredPage | None: ...

    def record_page(self, page: StoredPage) -> StoredPage: ...


class PagingActivities:
    def __init__(
        self,
        config: SevflowConfig,
        chat: ChatPort,
        store: PageStore,
        webhook: WebhookPort | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.chat = chat
        self.store = store
        self.webhook = webhook
        self.clock = clock

    @activity.defn(name=PLAN_ESCALATION_LEVEL)
    def plan_escalation_level(self, request: PlanLevel) -> LevelPlan:
        return plan_level(self.config, request)

    @activity.defn(name=SEND_PAGE)
    def send_page(self, page: SendPage) -> PageSent:
        if (done := self.store.page(page.key)) is not None:  # sent before: never twice
            return _sent(done)
        outcome: PageOutcome = "delivered"
        detail: str | None = None
        try:
            detail = self._deliver(page)
        except RateLimited as err:
            raise ApplicationError(
                "paging rate limited", type="RateLimited", next_retry_delay=err.retry_after
            ) from err
        except _Unreachable as err:
            outcome, detail = "unreachable", str(err)
        except (PermanentChatError, PermanentPageError) as err:
            outcome, detail = "failed", str(err)
        except Exception as err:
            if _attempt() < LAST_ATTEMPT:
                raise
            outcome, detail = "failed", f"{type(err).__name__}: {err} (after {LAST_ATTEMPT} attempts)"
        if outcome != "delivered":
            log.warning("page %s %s: %s", page.key, outcome, detail)
        stored = self.store.record_page(
            StoredPage(
                key=page.key,
                incident_number=page.incident_number,
                escalation_id=page.escalation_id,
                person=page.target.who,
                target=page.target.target,
                via=page.via,
                level=page.level,
                loop=page.loop,
                severity=page.severity.value,
                due_at=page.due_at,
                paged_at=self.clock(),
                result=outcome,
                detail=detail,
                out_of_hours=self._out_of_hours(page),
                drill=page.drill,
            )
        )
        return _sent(stored)

    def _deliver(self, page: SendPage) -> str | None:
        text, blocks = page_message(page)
        target = page.target
        if page.via == "team_channel":
            if target.channel is None:
                raise _Unreachable(f"{target.target} has no channel")
            ref = self.chat.post(target.channel, text, blocks)
            return f"posted {ref.ts}"
        if page.via == "slack_dm":
            if target.slack_id is None:
                raise _Unreachable(f"{target.who} has no Slack id")
            ref = self.chat.direct_message(target.slack_id, text, blocks)
            return f"DM {ref.channel}/{ref.ts}"
        if self.webhook is None:
            raise _Unreachable("no paging.webhook is configured")
        self.webhook.send(page.key, _webhook_payload(page, text))
        return None

    def _out_of_hours(self, page: SendPage) -> bool:
        """A page to a person outside their business hours (or on a holiday) counts toward burnout."""
        if page.target.person is None:
            return False
        hours, zone = self.config.business_hours_of(page.target.person)
        calendar = BusinessCalendar(
            zone=zone,
            start=hours.start,
            end=hours.end,
            weekdays=hours.weekday_numbers,
            holiday_country=self.config.holidays.country if self.config.holidays else None,
            holiday_subdivision=self.config.holidays.subdivision if self.config.holidays else None,
        )
        return not calendar.is_business_time(page.due_at)


class _Unreachable(Exception):
    pass


def _attempt() -> int:
    try:
        return activity.info().attempt
    except RuntimeError:  # called outside an activity (tests of the class itself)
        return LAST_ATTEMPT


def _sent(page: StoredPage) -> PageSent:
    return PageSent.model_validate(
        {"key": page.key, "outcome": page.result, "detail": page.detail, "out_of_hours": page.out_of_hours}
    )


def _webhook_payload(page: SendPage, text: str) -> dict[str, Any]:
    target = page.target
    return {
        "type": "page",
        "key": page.key,
        "text": text,
        "incident": {
            "id": f"INC-{page.incident_number}",
            "number": page.incident_number,
            "title": page.title,
            "service": page.service,
            "severity": page.severity.value,
            "drill": page.drill,
        },
        "person": {
            "name": target.person,
            "email": target.email,
            "phone": target.phone,
            "slack_id": target.slack_id,
        },
        "escalation": {
            "level": page.level + 1,
            "round": page.loop + 1,
            "via": target.target,
            "due_at": page.due_at.isoformat(),
            "ack_within_seconds": int(page.wait.total_seconds()),
        },
    }

"""The action item's notices tell Temporal whether a chat failure is worth a retry, as every chat
activity does (activities.chat.vendor_errors): nothing is remembered as sent when the send failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.exceptions import ApplicationError

from activities.action_items import ActionItemActivities
from activities.chat import Blocks, PermanentChatError, RateLimited
from sevflow.action_items.chase import ActionItemNotice, Contact
from sevflow.action_items.models import new_action_item
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import MessageRef
from sevflow.store.repository import Store
from tests.recording_chat import RecordingChat


class FailingChat(RecordingChat):
    """Direct messages raise `fail_with` while it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_with: Exception | None = None

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        if self.fail_with is not None:
            raise self.fail_with
        return super().direct_message(user, text, blocks)


def test_a_failed_owner_dm_says_whether_to_retry_and_is_not_remembered(sqlite_store: Store) -> None:
    chat = FailingChat()
    activities = ActionItemActivities(SevflowConfig(), chat, sqlite_store)
    created = datetime(2026, 3, 2, 9, tzinfo=UTC)
    item = new_action_item(7, "bound the checkout pool", "alice", created, zone=ZoneInfo("UTC"))
    notice = ActionItemNotice(
        key=f"{item.id}/assigned",
        kind="assigned",
        item=item,
        incident_title="checkout 5xx",
        owner=Contact(person="alice", slack_id="U0ALICE"),
    )

    chat.fail_with = RateLimited(timedelta(seconds=7))
    with pytest.raises(ApplicationError) as limited:
        activities.notify_action_owner(notice)
    assert not limited.value.non_retryable and limited.value.next_retry_delay == timedelta(seconds=7)
    chat.fail_with = PermanentChatError("Slack chat.postMessage: user_not_found")
    with pytest.raises(ApplicationError) as refused:
        activities.notify_action_owner(notice)
    assert refused.value.non_retryable and "user_not_found" in refused.value.message
    assert sqlite_store.sent_message(f"{notice.key}/owner") is None

    chat.fail_with = None
    activities.notify_action_owner(notice)
    assert [user for user, _ in chat.dms] == ["U0ALICE"]
    assert sqlite_store.sent_message(f"{notice.key}/owner") is not None

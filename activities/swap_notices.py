"""Swap notices: the direct message that a swap awaits its second person, or that it is in force.

`send_swap_notice` reads the change again (the workflow carries only its id) and sends nothing when it
is no longer in the state the notice is about: an asked swap confirmed or removed before the worker got
to it gets no "please confirm". The message goes to the person's `slack_id` in sevflow.yaml's `people:`;
a person without one gets it in the worker log instead, as a team without a channel gets its handoffs.
Vendor errors map as in activities/chat.py: a 429 retries after its Retry-After, an error retrying cannot
fix is non-retryable. The workflow's id makes one notice per event; a retry after the message left but
before the answer came back (a worker killed in between) may send it twice, a DM being the one post
here with no key to find it again by.
"""

from __future__ import annotations

import logging
from typing import Protocol

from activities.blocking import blocking_activity
from activities.chat import ChatPort, MarkupChat, vendor_errors
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import SEND_SWAP_NOTICE, SwapNoticeResult, SwapNoticeRun
from sevflow.oncall.changes import OnCallChange, OnCallChangeNotFound
from sevflow.oncall.swap_notice import still_so, swap_notices

log = logging.getLogger("sevflow.oncall")


class SwapNoticeStore(Protocol):
    def oncall_change(self, change_id: int) -> OnCallChange: ...


class SwapNoticeActivities:
    def __init__(self, config: SevflowConfig, store: SwapNoticeStore, chat: ChatPort) -> None:
        self.config = config  # people: whom a name's slack_id reaches
        self.store = store
        self.chat = chat

    @blocking_activity(SEND_SWAP_NOTICE)
    def send_swap_notice(self, run: SwapNoticeRun) -> SwapNoticeResult:
        done = SwapNoticeResult(change_id=run.change_id, event=run.event, outcome="sent")
        try:
            change = self.store.oncall_change(run.change_id)
        except OnCallChangeNotFound:
            log.warning("swap notice %s of #%s: no such change in the store", run.event, run.change_id)
            return done.model_copy(update={"outcome": "unknown"})
        if not still_so(change, run.event):  # confirmed or removed since: nothing to ask or tell
            log.info("swap notice %s of %s not sent: it is %s now", run.event, change.label, change.status)
            return done.model_copy(update={"outcome": "stale"})
        notices = swap_notices(change, run.event)
        if not notices:  # whoever would be told did it themselves
            return done.model_copy(update={"outcome": "nobody"})
        sent: list[str] = []
        logged: list[str] = []
        ref = None
        for notice in notices:
            person = self.config.people.get(notice.to)
            slack_id = person.slack_id if person is not None else None
            if not slack_id:
                log.warning("swap notice for %s (no slack_id in sevflow.yaml):\n%s", notice.to, notice.text)
                logged.append(notice.to)
                continue
            # The reason is as typed: literal text, not markup (`<!channel>` stays text).
            text = self.chat.literal(notice.text) if isinstance(self.chat, MarkupChat) else notice.text
            with vendor_errors():
                ref = self.chat.direct_message(slack_id, text)
            sent.append(notice.to)
        # Each person once; a retry after a failure half way may message again those told before it.
        to = ", ".join(sent + logged)
        if not sent:
            return done.model_copy(update={"outcome": "logged", "to": to})
        return done.model_copy(update={"to": to, "message": ref})

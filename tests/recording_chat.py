"""A chat port that remembers what it was asked to post: for tests whose far end is not under test."""

from __future__ import annotations

import threading

from activities.chat import Blocks
from sevflow.contracts import MessageRef


class RecordingChat:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dms: list[tuple[str, str]] = []
        self.posts: list[tuple[str, str]] = []

    def create_channel(self, name: str) -> tuple[str, str]:
        return f"C-{name}", name

    def set_topic(self, channel: str, topic: str) -> None:
        pass

    def invite(self, channel: str, users: list[str]) -> None:
        pass

    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        with self.lock:
            self.posts.append((channel, text))
            return MessageRef(channel=channel, ts=f"p{len(self.posts)}")

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        pass

    def archive(self, channel: str) -> None:
        pass

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        with self.lock:
            self.dms.append((user, text))
            return MessageRef(channel=f"D-{user}", ts=f"d{len(self.dms)}")

    def mention(self, user: str) -> str:
        return f"@{user}"

"""What a workflow history shows to whoever reads it (the Temporal UI, `temporal workflow show`, an
exported history): every payload decoded, for checks that no contact detail travels in one."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any

# An e-mail address as a person would write it (a worker's identity, `pid@host`, has no dot after @).
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def payload_texts(history: str | dict[str, Any]) -> Iterator[str]:
    """The decoded data of every payload in a history in Temporal's JSON form."""
    stack: list[Any] = [json.loads(history) if isinstance(history, str) else history]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, str) and "metadata" in node:
                try:
                    yield base64.b64decode(data, validate=True).decode("utf-8", errors="replace")
                except binascii.Error:
                    yield data
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def addresses_in(history: str | dict[str, Any]) -> set[str]:
    """The e-mail addresses a history's payloads hold."""
    return {found for text in payload_texts(history) for found in EMAIL.findall(text)}

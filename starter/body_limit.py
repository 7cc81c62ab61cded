"""Limits on every request body, declared or streamed: its size (413 past `max_bytes`) and, for JSON,
its nesting (400 past `MAX_JSON_DEPTH` levels), in sevflow's error shape.

A body whose Content-Length is over the limit is refused before the app runs. A chunked body (no
Content-Length) is counted as it arrives, and the read that crosses the limit raises a 413
HTTPException inside the handler, which the app's handler answers as `{"error": ...}`. A handler
that never reads its body is not affected: nothing is buffered for it.

A body that FastAPI would parse as JSON (a JSON content type, or none) is kept as it is read, and the
read of its last chunk raises a 400 HTTPException when it nests deeper than `MAX_JSON_DEPTH`: the app
never hands it to a JSON parser, which would recurse once per level (sevflow/json_input.py).

Paths under `own_limit` enforce the same limits themselves, in their sender's error shape (the
PagerDuty-compatible endpoints answer 413 as PagerDuty does: `status`, `message`, `errors`), so the
middleware leaves them alone.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sevflow.json_input import MAX_JSON_DEPTH, decode, too_deep

TOO_DEEP = f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels"


def parsed_as_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this content type as JSON (as `fastapi.routing` decides)."""
    if not content_type:
        return True
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, own_limit: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.own_limit = own_limit

    @property
    def message(self) -> str:
        return f"body larger than {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.own_limit):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"error": self.message}, status_code=413)(scope, receive, send)
            return
        received = 0
        # The chunks of a body the app will parse as JSON, checked for depth once the last has come.
        kept: list[bytes] | None = [] if parsed_as_json(headers.get("content-type")) else None

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.max_bytes:
                    raise HTTPException(413, self.message)
                if kept is not None:
                    kept.append(chunk)
                    if not message.get("more_body", False) and _too_deep(b"".join(kept)):
                        raise HTTPException(400, TOO_DEEP)
            return message

        await self.app(scope, limited, send)


def _too_deep(body: bytes) -> bool:
    try:
        text = decode(body)
    except ValueError:  # not text: the app's own parse refuses it as invalid JSON
        return False
    return too_deep(text)

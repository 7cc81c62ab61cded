"""A limit on every request body, declared or streamed: 413 past `max_bytes`, in sevflow's error shape.

A body whose Content-Length is over the limit is refused before the app runs. A chunked body (no
Content-Length) is counted as it arrives, and the read that crosses the limit raises a 413
HTTPException inside the handler, which the app's handler answers as `{"error": ...}`. A handler
that never reads its body is not affected: nothing is buffered for it.

Paths under `own_limit` enforce the same limit themselves, in their sender's error shape (the
PagerDuty-compatible endpoints answer 413 as PagerDuty does: `status`, `message`, `errors`), so the
middleware leaves them alone.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"error": self.message}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self.message)
            return message

        await self.app(scope, limited, send)

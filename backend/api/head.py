"""HEAD on every GET route (RFC 9110 §9.3.2): the GET's status and headers, no body.

Pure ASGI: the request goes on as a GET (so every GET route, its auth, caching and ETags
answer it exactly as they would the GET) and the body bytes are dropped on the way out;
`Content-Length` stays the GET's, as the RFC allows. The route the GET matched is copied back
to the caller's scope, so logs and metrics name it (with method HEAD).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a streamed body: only its final (empty) message goes out
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await self.app(as_get, receive, without_body)
        finally:
            if "route" in as_get:
                scope["route"] = as_get["route"]

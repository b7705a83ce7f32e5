"""An answer given before the request's body was read ends its connection.

A service answers some requests without reading their bodies (a 413 for a
declared length over the limit, a 401, a shed 503). hypercorn then cannot read
the next request on that connection and closes it, but nothing in the answer
said so: Caddy, which keeps its upstream connections open for reuse, could
hand the dying one to another user's POST, which it cannot retry (a 502 for a
bystander). ``Connection: close`` on such an answer tells Caddy (and any
client) not to reuse it; requests without a body, and answers after the whole
body was read, keep their connection.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class CloseAfterUnreadBodyMiddleware:
    """Outermost (it must see every answer, the load shedder's too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        body_read = False

        async def tracking_receive() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                body_read = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_read:
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, tracking_receive, closing_send)

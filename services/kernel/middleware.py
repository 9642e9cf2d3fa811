"""ASGI middleware: request IDs, body-size limits and access logs."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from services.kernel.context import reset_request_id
from services.kernel.context import set_request_id
from services.kernel.errors import BadRequest
from services.kernel.errors import HeadersTooLarge
from services.kernel.errors import PayloadTooLarge
from services.kernel.errors import ProblemError
from services.kernel.errors import problem_response

REQUEST_ID_HEADER = "x-request-id"
# Accept a caller's ID only if it is short and plain, so it cannot inject into headers or logs.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("zhihui.access")


def new_request_id() -> str:
    return secrets.token_hex(8)


class RequestContextMiddleware:
    """Adopts or creates `X-Request-ID`, exposes it to logs and echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER)
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = set_request_id(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status_holder["status"],
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_holder["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            reset_request_id(token)


# uvicorn's default parser (httptools) sets no limit on headers; these are generous for any
# real client (browsers send ~1–2 KiB) and stop a 100 KiB header or thousands of them early.
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADER_COUNT = 100


class RequestSizeLimitMiddleware:
    """Refuses oversized requests: headers over the limits with 431, bodies over `max_bytes`
    with 413 (by Content-Length, or while streaming)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        path_limits: dict[str, int] | None = None,
        prefix_limits: dict[str, int] | None = None,
    ):
        self.app = app
        self.max_bytes = max_bytes
        # Larger limits for path suffixes (e.g. "/bulk") and prefixes (e.g. a library with
        # long full texts); the largest matching limit applies.
        self.path_limits = path_limits or {}
        self.prefix_limits = prefix_limits or {}

    def _limit_for(self, path: str) -> int:
        limits = [limit for suffix, limit in self.path_limits.items() if path.endswith(suffix)]
        limits += [limit for prefix, limit in self.prefix_limits.items() if path.startswith(prefix)]
        return max(limits, default=self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        header_bytes = sum(len(key) + len(value) + 4 for key, value in headers)
        if len(headers) > MAX_HEADER_COUNT or header_bytes > MAX_HEADER_BYTES:
            await _refuse_headers(scope, send, len(headers), header_bytes)
            return
        limit = self._limit_for(scope["path"])
        declared = _header(scope, "content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(
                    scope, send, BadRequest, "Content-Length must be a non-negative integer"
                )
                return
            if int(declared) > limit:
                await _refuse_too_large(scope, send, limit)
                return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _refuse_too_large(scope, send, limit)


class _BodyTooLarge(Exception):
    pass


async def _refuse_too_large(scope: Scope, send: Send, limit: int) -> None:
    await _refuse(
        scope,
        send,
        PayloadTooLarge,
        f"The request body exceeds {limit} bytes; send a smaller body "
        "(for many records use the /bulk endpoint in batches).",
    )


async def _refuse_headers(scope: Scope, send: Send, count: int, size: int) -> None:
    await _refuse(
        scope,
        send,
        HeadersTooLarge,
        f"The request has {count} headers of {size} bytes in all; at most "
        f"{MAX_HEADER_COUNT} headers and {MAX_HEADER_BYTES} bytes are accepted. Send only "
        "the headers the API needs (Authorization, Content-Type, If-Match, X-Request-ID).",
    )


async def _refuse(scope: Scope, send: Send, problem: type[ProblemError], detail: str) -> None:
    await _send_problem(
        scope,
        send,
        problem_response(
            status=problem.status,
            slug=problem.slug,
            title=problem.title,
            detail=detail,
            instance=scope["path"],
        ),
    )


async def _send_problem(scope: Scope, send: Send, response: ASGIApp) -> None:
    async def no_receive() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_receive, send)


def _header(scope: Scope, name: str) -> str | None:
    raw = name.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == raw:
            try:
                return value.decode("latin-1")
            except UnicodeDecodeError:
                return None
    return None

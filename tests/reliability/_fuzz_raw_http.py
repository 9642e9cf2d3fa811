"""A real HTTP server for the gateway app, and raw requests to it over a socket.

Header-level attacks (oversized or too many headers, CR/LF in values, smuggling) are judged by
the HTTP server before the app sees anything, so they need uvicorn's own parser: the app is
served by `uvicorn.Server` with the settings `zhihui serve` uses, on a free port, as a task on
the test's event loop (the services' database pools live on that loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from services.cli.serving import SERVER_OPTIONS
from tests.e2e.processes import free_port

READ_SECONDS = 10


@contextlib.asynccontextmanager
async def serving(app: object) -> AsyncIterator[int]:
    """Serve `app` on 127.0.0.1 (no lifespan: the fixtures own its resources); yield the port."""
    port = free_port()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        lifespan="off",
        **SERVER_OPTIONS,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


@dataclass(frozen=True)
class RawResponse:
    """What came back on the socket; `status` is None when the server just closed it."""

    status: int | None
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


async def send_raw(port: int, request: bytes) -> RawResponse:
    """Write `request` as is, read until the server closes (requests say Connection: close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        data = b""
        with contextlib.suppress(ConnectionError):
            data = await asyncio.wait_for(reader.read(-1), READ_SECONDS)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if not data:
        return RawResponse(None, [], b"")
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    return RawResponse(status, headers, payload)  # type: ignore[arg-type]

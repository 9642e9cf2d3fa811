"""FastAPI dependencies of the gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi import Request

from services.gateway.keys.service import ApiKeyService
from services.gateway.proxy import Proxy
from services.kernel.session import Session


async def get_proxy(request: Request) -> Proxy:
    """The pooled clients (async: a plain `def` dependency would run in a worker thread)."""
    proxy: Proxy = request.app.state.proxy
    return proxy


def get_key_service(session: Session) -> ApiKeyService:
    return ApiKeyService(session)


ProxyDep = Annotated[Proxy, Depends(get_proxy)]
KeyServiceDep = Annotated[ApiKeyService, Depends(get_key_service)]

"""How `zhihui` serves an app with uvicorn (tests serve apps the same way)."""

from __future__ import annotations

from typing import Any

# - our own JSON logging and access log (kernel/logging.py, kernel/middleware.py);
# - no proxy-header rewriting: uvicorn would take X-Forwarded-For from any local peer as the
#   client's address; the gateway reads it itself, from configured proxies only
#   (gateway/client_address.py).
SERVER_OPTIONS: dict[str, Any] = {
    "log_config": None,
    "access_log": False,
    "proxy_headers": False,
}

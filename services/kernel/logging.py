"""JSON log lines, each stamped with the request ID of the request that caused it."""

from __future__ import annotations

import logging
import sys
from datetime import UTC
from datetime import datetime

import orjson

from services.kernel.context import current_request_id

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
# Libraries that log every SQL statement with its parameters at DEBUG (API key hashes, expert
# contact details…): kept at INFO or above whatever the level, so DEBUG never logs data.
PARAMETER_LOGGERS = ("aiosqlite",)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields are kept, exceptions as text."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or current_request_id() or "-"
        return True


def configure_logging(service: str, *, level: str = "INFO", json_lines: bool = True) -> None:
    """Send every logger (ours, uvicorn's, SQLAlchemy's) through one stderr handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # Our own access log line carries the request id; uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True

"""The kernel's tables in every library service: change feed, idempotency keys, history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from services.kernel.changefeed import ChangeMixin
from services.kernel.history import HistoryMixin
from services.kernel.idempotency import IdempotencyMixin
from services.kernel.library import LibraryFacts


@dataclass(frozen=True, slots=True)
class LibraryTables:
    """A library service's tables: all of them, and the two the kernel reads and writes."""

    metadata: MetaData
    change: type[ChangeMixin]
    idempotency: type[IdempotencyMixin]
    history: type[HistoryMixin]


def kernel_tables(base: type[DeclarativeBase], library: LibraryFacts) -> LibraryTables:
    """`changes` and `idempotency_keys` on the service's declarative base (e.g. TABLES.change).

    Every service's are the same columns; made here so no library repeats them, and named
    after the library's entity so SQLAlchemy's registry and tracebacks read as before.
    """
    entity = library.entity.title()
    module = base.__module__
    change = type(
        f"{entity}Change",
        (ChangeMixin, base),
        {"__tablename__": "changes", "__module__": module, "feed_name": library.name},
    )
    idempotency = type(
        f"{entity}Idempotency",
        (IdempotencyMixin, base),
        {"__module__": module, "__doc__": IdempotencyMixin.__doc__},
    )
    history = type(
        f"{entity}History",
        (HistoryMixin, base),
        {"__module__": module, "__doc__": HistoryMixin.__doc__},
    )
    return LibraryTables(base.metadata, change, idempotency, history)

"""Tables the gateway owns: API keys, and the indexer's cursors and leases."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from typing import ClassVar

from sqlalchemy import BigInteger
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from services.kernel.db import UTCDateTime
from services.kernel.db import new_metadata
from services.kernel.db import utcnow

KEY_ID_PREFIX = "key"


class Base(DeclarativeBase):
    metadata = new_metadata()

    if TYPE_CHECKING:
        # Each model here declares its own table, so `__table__` is a Table (Core DML takes
        # one), not the FromClause `DeclarativeBase` promises for every kind of mapping.
        __table__: ClassVar[Table]


class ApiKey(Base):
    """A partner's or admin's API key; only a SHA-256 hash of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    org: Mapped[str | None] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    rate_limit: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IndexerCursor(Base):
    """How far the search index has applied one service's change feed (the last applied seq).

    Moved only after the index accepted the batch, in its own transaction, and only by the
    lease holder from the position it read (compare-and-set), so it never skips or goes back.
    """

    __tablename__ = "indexer_cursors"

    feed: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The current failure streak's error, cleared on recovery.
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IndexerLease(Base):
    """Which indexer pulls one feed: taken when free, expired or already held; renewed often."""

    __tablename__ = "indexer_leases"

    feed: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

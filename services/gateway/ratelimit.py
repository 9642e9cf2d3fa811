"""Per-caller token buckets: a key's limit per minute, or the anonymous limit per client IP.

Buckets live in this gateway process; with N gateways behind a load balancer a caller gets
up to N times its limit. A shared store (Redis) would make it exact; not needed yet.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 100_000  # bound memory under a flood of distinct IPs


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds; 0 when allowed


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def hit(self, bucket_key: str, per_minute: int) -> Decision:
        """Take one token from the caller's bucket (capacity = the per-minute limit)."""
        bucket = self._refilled(bucket_key, per_minute)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Decision(True, per_minute, int(bucket.tokens), 0)
        return self._refusal(bucket, per_minute)

    def peek(self, bucket_key: str, per_minute: int) -> Decision:
        """Whether `hit` would allow the caller now, without taking a token."""
        bucket = self._refilled(bucket_key, per_minute)
        if bucket.tokens >= 1.0:
            return Decision(True, per_minute, int(bucket.tokens), 0)
        return self._refusal(bucket, per_minute)

    def _refilled(self, bucket_key: str, per_minute: int) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(bucket_key)
        if bucket is None:
            bucket = _Bucket(tokens=float(per_minute), updated=now)
            self._buckets[bucket_key] = bucket
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(bucket_key)
            rate = per_minute / 60.0
            bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        return bucket

    @staticmethod
    def _refusal(bucket: _Bucket, per_minute: int) -> Decision:
        rate = per_minute / 60.0
        wait = math.ceil((1.0 - bucket.tokens) / rate) if rate > 0 else 60
        return Decision(False, per_minute, 0, max(1, wait))

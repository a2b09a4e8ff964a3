"""Per-key rate limits: a token bucket counted in events (a batch of 500 costs 500).

A key's bucket holds its burst: twice its own rate (`--rate`), else the collector's
`rate_limit.burst`. A request of more events than that could never be let through,
so it is refused as too large (413, split it), not told to wait (429)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.errors import RateLimited, TooLarge


@dataclass(slots=True)
class _Bucket:
    rate: float
    burst: float
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, events_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.events_per_s = events_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str, events: int, rate_per_s: float | None = None) -> None:
        """Spend `events` tokens of the key's bucket or raise RateLimited with the wait
        (TooLarge if the bucket can never hold them)."""
        now = self._clock()
        rate = rate_per_s or self.events_per_s
        burst = max(1.0, 2 * rate) if rate_per_s else float(self.burst)
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[key_id] = _Bucket(rate, burst, burst, now)
        bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.at) * bucket.rate)
        bucket.at = now
        if events > bucket.burst:
            raise TooLarge("body", f"{events} events exceed this key's burst of "
                                   f"{int(bucket.burst)}; send at most {int(bucket.burst)} a request")
        if bucket.tokens < events:
            wait = (events - bucket.tokens) / bucket.rate
            raise RateLimited("api key", f"over {bucket.rate:g} events/s; retry in {wait:.2f}s",
                              retry_after_s=max(1, math.ceil(wait)))
        bucket.tokens -= events

"""Per-key rate limits: token buckets, in this worker or shared through Redis.

A key's bucket holds up to `burst` tokens and refills at `per_s` tokens a second; a request
takes one token or is refused (429) with the time until the next one. Without Redis each
worker keeps its own buckets (N workers allow N times the rate); with `REDIS_URL` every
worker and host takes from the same bucket (an atomic Lua script, timed by Redis's own
clock, so hosts need no synchronised clocks). When Redis fails the worker falls back to its
own buckets for that request: a Redis outage never refuses or fails a request.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

log = logging.getLogger("oddsdesk.ratelimit")

MAX_LOCAL_BUCKETS = 100_000  # least recently used dropped first (a dropped bucket is full)
POLICY = "key"

# KEYS[1] the bucket; ARGV rate, burst. Returns {allowed (0|1), tokens left (as text)}.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_s: float
    burst: int

    @classmethod
    def of(cls, per_s: float | None, burst: int | None) -> RateLimit | None:
        """The limit for a rate (None or 0: unlimited); the burst defaults to one second's
        worth of requests, at least 1."""
        if not per_s:
            return None
        return cls(per_s=float(per_s), burst=burst or max(1, math.ceil(per_s)))

    @classmethod
    def effective(
        cls,
        own_per_s: float | Decimal | None,
        own_burst: int | None,
        default_per_s: float,
        default_burst: int,
    ) -> RateLimit | None:
        """A tenant's limit: each value its own, else the deployment's (0: none)."""
        return cls.of(float(own_per_s or default_per_s), own_burst or default_burst)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: RateLimit
    tokens: float  # left after this request

    @property
    def remaining(self) -> int:
        return math.floor(self.tokens)

    @property
    def retry_after_s(self) -> int:
        """Whole seconds until a token is there again (at least 1; 0 when allowed)."""
        if self.allowed:
            return 0
        return max(1, math.ceil((1 - self.tokens) / self.limit.per_s))

    @property
    def reset_s(self) -> int:
        """Whole seconds until the bucket is full again."""
        return math.ceil(max(0.0, self.limit.burst - self.tokens) / self.limit.per_s)

    def headers(self) -> dict[str, str]:
        """The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers): the policy (a
        quota of `burst` per the time the bucket takes to fill) and what is left of it."""
        window = max(1, math.ceil(self.limit.burst / self.limit.per_s))
        fields = {
            "RateLimit-Policy": f'"{POLICY}";q={self.limit.burst};w={window}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset_s}',
        }
        if not self.allowed:
            fields["Retry-After"] = str(self.retry_after_s)
        return fields


class LocalBuckets:
    """This worker's buckets. Called on the event loop only: no lock needed."""

    def __init__(self, max_buckets: int = MAX_LOCAL_BUCKETS) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max = max_buckets

    def take(self, key: str, limit: RateLimit, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.pop(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + max(0.0, now - at) * limit.per_s)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return Decision(allowed, limit, tokens)


class RateLimiter:
    """Takes a token for a key: from Redis when configured and reachable, else locally."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.local = LocalBuckets()
        self._redis: Any = None
        self._take: Any = None
        self.redis_failures = 0
        if redis_url:
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(
                redis_url, socket_timeout=0.25, socket_connect_timeout=0.25
            )
            self._redis = client
            self._take = client.register_script(_TAKE)

    @property
    def shared(self) -> bool:
        return self._redis is not None

    async def take(self, key: str, limit: RateLimit) -> Decision:
        if self._take is not None:
            try:
                allowed, tokens = await self._take(
                    keys=[f"oddsdesk:ratelimit:{key}"], args=[limit.per_s, limit.burst]
                )
                return Decision(bool(int(allowed)), limit, float(tokens))
            except Exception:  # any Redis trouble: this worker's own bucket, never a failure
                self.redis_failures += 1
                if self.redis_failures == 1 or self.redis_failures % 1000 == 0:
                    log.warning(
                        "rate limits fall back to this worker's buckets (Redis failed %d times)",
                        self.redis_failures,
                        exc_info=self.redis_failures == 1,
                    )
        return self.local.take(key, limit)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

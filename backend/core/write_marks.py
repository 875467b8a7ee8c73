"""Each principal's last committed write position (its LSN), shared by every worker and host
through Redis, so a read-your-writes decision holds whichever worker answers the read.

The replica router (core/replica.py) keeps its own worker's marks in memory; with REDIS_URL set
it also notes each one here, and before sending a principal's read to the replica asks for
the principal's mark, written by any worker. A mark only grows (a Lua script keeps the larger
of two concurrent writers' positions) and expires MARK_TTL_S after the principal's last
write: a replica lagging longer than that is not one to read from. Redis not answering makes
the read go to the primary: never a stale read because Redis failed to answer.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("oddsdesk.replica")

MARK_TTL_S = 300
_KEY = "oddsdesk:lsn:{}"
_PIN = "oddsdesk:pin:{}"  # a write whose position is unknown: the primary, for a while
# KEYS[1]: the mark; ARGV[1]: the write's LSN; ARGV[2]: the time to live (ms). The larger
# position wins; either way the mark lives MARK_TTL_S from this write.
_NOTE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


class SharedWriteMarks:
    def __init__(self, redis_url: str) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(
            redis_url, socket_timeout=0.25, socket_connect_timeout=0.25
        )
        self._note: Any = self._client.register_script(_NOTE)
        self.failures = 0

    def note(self, principal: str, lsn: int) -> None:
        try:
            self._note(keys=[_KEY.format(principal)], args=[lsn, MARK_TTL_S * 1000])
        except Exception as exc:
            self._failed("note", exc)

    def pin(self, principal: str, seconds: float) -> None:
        """Keep `principal` on the primary on every worker for `seconds` (a write of it
        committed, its position unknown)."""
        try:
            self._client.set(_PIN.format(principal), 1, px=int(seconds * 1000))
        except Exception as exc:
            self._failed("pin", exc)

    def mark(self, principal: str) -> int | None:
        """The principal's last write position by any worker (0: none within MARK_TTL_S);
        None when it is pinned to the primary or Redis did not answer. One round trip."""
        try:
            value, pinned = self._client.mget(_KEY.format(principal), _PIN.format(principal))
        except Exception as exc:
            self._failed("read", exc)
            return None
        if pinned is not None:
            return None
        return int(value) if value is not None else 0

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 1000 == 0:
            log.warning(
                "shared write marks unavailable; reads go to the primary",
                extra={"what": what, "error": type(exc).__name__, "failures": self.failures},
            )

    def close(self) -> None:
        self._client.close()

"""Advisory lock spaces shared by the statements that must exclude each other.

PostgreSQL's heavyweight locks queue fairly: once an exclusive request waits, later shared
requests wait behind it. That is what lets a settlement close a busy market: row locks (FOR
SHARE) would let a stream of bettors starve it.
"""

from __future__ import annotations

# pg_advisory_xact_lock[_shared](MARKET_LOCK, match_id): placing a bet holds it shared for its
# transaction; a result or cancel of the match holds it exclusively. Lock order everywhere:
# market, then match row, then bets, then strategies (in id order).
MARKET_LOCK = 1

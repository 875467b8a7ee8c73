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
# pg_advisory_xact_lock(STRATEGY_LOCK, hashtext(strategy_id)): taken by a bet's debit in the
# statement before it, so the debit's snapshot holds every bet of the strategy committed before
# it (its exposure limit sums them; a row lock alone would re-check the strategy's row but not
# that sum). Bets of one strategy already queue on its row from the debit to the COMMIT; this
# lock moves the start of that queue one statement earlier. Taken after MARKET_LOCK and before
# the strategy's row; nothing that holds a strategy's row waits for it.
STRATEGY_LOCK = 2

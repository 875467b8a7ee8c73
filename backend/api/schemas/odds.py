from __future__ import annotations

from typing import Literal

from backend.api.schemas.common import OutputModel, UtcDatetime
from backend.api.schemas.money import PriceOut


class SnapshotRead(OutputModel):
    id: int
    match_id: int
    bookmaker_id: int
    market: Literal["1x2", "ou2.5"]
    selection: Literal["home", "draw", "away", "over", "under"]
    price: PriceOut
    captured_at: UtcDatetime


class SnapshotList(OutputModel):
    items: list[SnapshotRead]


class BatchRead(OutputModel):
    received: int
    inserted: int
    duplicates: int

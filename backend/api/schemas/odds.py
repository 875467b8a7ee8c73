from __future__ import annotations

from typing import Any, Literal

from backend.api.schemas.bets import market_selection_rule
from backend.api.schemas.common import MAX_ID, OutputModel, UtcDatetime
from backend.api.schemas.money import PRICE_MAX, PRICE_MIN, PRICE_PATTERN, PriceOut
from backend.core.timestamps import TIMESTAMP_RE
from backend.models.trading import MARKETS
from backend.repositories.odds import COLUMNS


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


def snapshot_batch_schema(max_rows: int) -> dict[str, Any]:
    """`{"snapshots": [...]}` as `backend.services.odds.parse_json` and the staged-row checks
    take it. Integral JSON numbers only for the ids (`1.0` is refused), and a price as a JSON
    number or a decimal string."""
    snapshot = {
        "type": "object",
        "additionalProperties": False,
        "required": list(COLUMNS),
        "properties": {
            "match_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "bookmaker_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "market": {"type": "string", "enum": list(MARKETS)},
            "selection": {
                "type": "string",
                "enum": [s for selections in MARKETS.values() for s in selections],
            },
            "price": {
                "anyOf": [
                    {"type": "string", "pattern": PRICE_PATTERN},
                    {
                        "type": "number",
                        "minimum": float(PRICE_MIN),
                        "maximum": float(PRICE_MAX),
                        "multipleOf": 0.001,
                    },
                ]
            },
            "captured_at": {
                "type": "string",
                "format": "date-time",
                "pattern": TIMESTAMP_RE,
                "description": "RFC 3339 with an offset, not more than 5 minutes ahead",
            },
        },
        "anyOf": market_selection_rule(),
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["snapshots"],
        "properties": {
            "snapshots": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "items": snapshot,
            }
        },
    }


def _inner(pattern: str) -> str:
    return pattern.removeprefix("^").removesuffix("$")


def snapshot_csv_schema() -> dict[str, Any]:
    """The CSV form of a batch, in the header's documented column order (the server takes the
    six columns in any order): the same fields and rules as a JSON snapshot, one row a line."""
    row = ",".join(
        (
            "[1-9][0-9]{0,9}",
            "[1-9][0-9]{0,9}",
            "(1x2,(home|draw|away)|ou2\\.5,(over|under))",
            f"({_inner(PRICE_PATTERN)})",
            f"({_inner(TIMESTAMP_RE)})",
        )
    )
    return {
        "type": "string",
        "pattern": f"^{','.join(COLUMNS)}\\n({row}\\n)*{row}\\n?$",
        "description": "A header line naming the six columns, then 1 to 100,000 rows",
    }

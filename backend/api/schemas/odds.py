from __future__ import annotations

from typing import Any

from backend.api.schemas.bets import market_selection_rule
from backend.api.schemas.common import MAX_ID, OutputModel, UtcDatetime
from backend.api.schemas.money import (
    AH_LINE_PATTERN,
    OU_LINE_PATTERN,
    PRICE_MAX,
    PRICE_MIN,
    PRICE_PATTERN,
    LineOut,
    PriceOut,
)
from backend.core.markets import MARKETS, SELECTIONS, Market, Selection
from backend.core.timestamps import TIMESTAMP_RE
from backend.repositories.odds import COLUMNS, OPTIONAL_COLUMNS


class SnapshotRead(OutputModel):
    id: int
    match_id: int
    bookmaker_id: int
    market: Market
    selection: Selection
    line: LineOut | None
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
            "selection": {"type": "string", "enum": list(SELECTIONS)},
            "line": {
                "description": "ah: the home team's handicap; ou: the goals line; "
                "absent or null for 1x2 and ou2.5 (quarter goals)",
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


def _csv_rows(header: str, row: str) -> str:
    return f"{header}\\n({row}\\n)*{row}\\n?"


def snapshot_csv_schema() -> dict[str, Any]:
    """The CSV form of a batch, in the header's documented column order (the server takes the
    columns in any order): the six columns of line-less prices, or the seven with `line`
    last (empty for 1x2 and ou2.5); the same fields and rules as a JSON snapshot, one row a
    line."""
    ids = "[1-9][0-9]{0,9},[1-9][0-9]{0,9}"
    tail = f"({_inner(PRICE_PATTERN)}),({_inner(TIMESTAMP_RE)})"
    lineless = "(1x2,(home|draw|away)|ou2\\.5,(over|under))"
    six = f"{ids},{lineless},{tail}"
    seven = (
        f"{ids},({lineless},{tail},"
        f"|ah,(home|away),{tail},({_inner(AH_LINE_PATTERN)})"
        f"|ou,(over|under),{tail},({_inner(OU_LINE_PATTERN)}))"
    )
    header = ",".join(COLUMNS)
    with_line = ",".join((*COLUMNS, *OPTIONAL_COLUMNS))
    return {
        "type": "string",
        "pattern": f"^({_csv_rows(header, six)}|{_csv_rows(with_line, seven)})$",
        "description": "A header line naming the six columns (or seven, with line), then 1 "
        "to 100,000 rows",
    }

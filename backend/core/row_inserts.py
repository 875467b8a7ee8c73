"""Multi-row INSERTs of rows a unit of work writes at commit (audit entries, events).

`INSERT ... VALUES (...), (...)` a chunk of up to `rows_per_statement` rows at a time; the
usual few rows of one request as statements prepared once per connection (named
`<name>_<rows>`), bigger batches (a settlement, an import) sent as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from backend.core.prepared import PreparedSQL

Statement = tuple[str | PreparedSQL, list[Any]]


class MultiRowInsert:
    def __init__(
        self, name: str, head: str, row: str, *, prepared_up_to: int, rows_per_statement: int = 1000
    ) -> None:
        self.head, self.row, self.rows_per_statement = head, row, rows_per_statement
        self.prepared = {
            rows: PreparedSQL(f"{name}_{rows}", self._text(rows))
            for rows in range(1, prepared_up_to + 1)
        }

    def _text(self, rows: int) -> str:
        return self.head + ", ".join([self.row] * rows)

    def statements(self, rows: Sequence[Iterable[Any]]) -> list[Statement]:
        """The statements inserting `rows` (each row's values in the columns' order)."""
        out: list[Statement] = []
        for start in range(0, len(rows), self.rows_per_statement):
            chunk = rows[start : start + self.rows_per_statement]
            params = [value for row in chunk for value in row]
            out.append((self.prepared.get(len(chunk)) or self._text(len(chunk)), params))
        return out

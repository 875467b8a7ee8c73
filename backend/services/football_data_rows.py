"""The shape checks of a football-data season file, before any cell is read.

The bytes must be UTF-8 (a bad byte is named by its line and column), the header must hold the
required columns (a file re-saved with `;` or tabs is recognised as such), and every row must be
exactly as wide as the header: a row cut short (an interrupted download, a bad edit) or one with
extra cells is refused, never read as "no price". Blank lines (empty, or only commas) are
allowed at the end of the file only, where football-data sometimes leaves them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

BOM = b"\xef\xbb\xbf"
SEPARATORS = ((";", "';'"), ("\t", "tabs"))
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")

Row = dict[str, str]


class SeasonFileError(ValueError):
    """A file that cannot be imported: names the file, line and column."""

    def __init__(self, path: Path, line: int, column: str, message: str) -> None:
        super().__init__(f"{path.name}: line {line}, column {column}: {message}")
        self.path, self.line, self.column = path, line, column


def decode(path: Path, data: bytes) -> str:
    """The file's text (a UTF-8 BOM dropped), or an error at the line and column of the first
    byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = _column_at(data, exc.start)
        byte = data[exc.start]
        message = f"not UTF-8 text: byte 0x{byte:02X} ({exc.reason}); re-save the file as UTF-8"
        raise SeasonFileError(path, line, column, message) from None


def _column_at(data: bytes, offset: int) -> str:
    """The header name of the cell holding byte `offset` ("-" if it cannot be told)."""
    header_end = data.find(b"\n")
    header_line = data[: header_end if header_end >= 0 else len(data)].removeprefix(BOM)
    header = _cells(header_line.decode("utf-8", errors="replace"))
    line_start = data.rfind(b"\n", 0, offset) + 1
    before = data[line_start:offset].removeprefix(BOM).decode("utf-8", errors="replace")
    index = max(len(_cells(before)) - 1, 0)
    if line_start == 0 or index >= len(header):
        return "-"  # a byte in the header itself, or past its last column
    return header[index].strip() or "-"


def _cells(line: str) -> list[str]:
    return next(csv.reader([line.rstrip("\r")]), [])


def rows(path: Path, text: str, required: Sequence[str]) -> tuple[list[str], list[tuple[int, Row]]]:
    """The header and each data row (with the line it ends on), every row checked for width."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            records.append((reader.line_num, cells))
    except csv.Error as exc:
        raise SeasonFileError(path, reader.line_num, "-", f"not a CSV row ({exc})") from None
    if not records or not any(records[0][1]):
        raise SeasonFileError(path, 1, "-", "the file is empty")
    header = records[0][1]
    _check_header(path, header, required)
    end = len(records)
    while end > 1 and _blank(records[end - 1][1]):
        end -= 1  # trailing blank lines
    checked: list[tuple[int, Row]] = []
    for line, cells in records[1:end]:
        if _blank(cells):
            raise SeasonFileError(
                path, line, "-", "an empty row (blank lines are allowed only at the end)"
            )
        if len(cells) != len(header):
            cut = line == records[-1][0] and not text.endswith(("\n", "\r"))
            raise _width_error(path, line, len(cells), header, cut)
        checked.append((line, dict(zip(header, cells, strict=True))))
    return header, checked


def _blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _check_header(path: Path, header: list[str], required: Sequence[str]) -> None:
    missing = [column for column in required if column not in header]
    if not missing:
        return
    for separator, named in SEPARATORS:
        if any(c in cell.split(separator) for cell in header for c in required):
            message = f"the file looks separated by {named} — football-data files use ','"
            raise SeasonFileError(path, 1, missing[0], message)
    raise SeasonFileError(path, 1, missing[0], "required column is missing")


def _width_error(
    path: Path, line: int, width: int, header: list[str], cut: bool
) -> SeasonFileError:
    column = header[width] if width < len(header) else "-"
    message = f"{width} columns, the header has {len(header)}"
    if cut:
        message += " (the file ends mid-row: an interrupted download?)"
    return SeasonFileError(path, line, column, message)


def kickoff_time(raw: str) -> tuple[int, int]:
    """`HH:MM` (24-hour) as (hour, minute), or ValueError in the importer's words."""
    match = _TIME.fullmatch(raw.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{raw!r} is not a time (HH:MM)")
    return int(match[1]), int(match[2])

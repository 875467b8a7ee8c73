"""RFC 3339 timestamps with an offset: the one grammar every timestamp input is held to."""

from __future__ import annotations

import re

# RFC 3339 with an offset (`T`/space separator, seconds and fraction optional, `Z` or ±HH[:MM]);
# both letter cases are spelled out so the same text serves PostgreSQL (`~*`), Python and an
# OpenAPI `pattern` (which has no flags). Impossible dates (2024-02-30) are left to the parser
# or cast that follows it.
TIMESTAMP_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
TIMESTAMP = re.compile(TIMESTAMP_RE, re.IGNORECASE)


def is_rfc3339(value: str) -> bool:
    """Whether `value` is written as an RFC 3339 timestamp with an offset (not a date alone,
    not an epoch number, nothing before or after it)."""
    return TIMESTAMP.fullmatch(value) is not None

"""Optimistic concurrency preconditions (`If-Match`), checked inside the writing transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.core.errors import PreconditionFailed, PreconditionRequired

_STRONG_ETAG = re.compile(r'^"(\d{1,18})"$')


@dataclass(frozen=True, slots=True)
class ExpectedVersion:
    """What the client said it last saw. `check()` is called only after the row was found,
    so a resource the caller cannot see is 404 before any precondition is looked at."""

    header: str | None
    required: bool

    def check(self, current: int) -> None:
        raw = (self.header or "").strip()
        if not raw or raw == "*":
            if self.required:
                raise PreconditionRequired(
                    'this request needs If-Match with the resource\'s ETag, e.g. If-Match: "3"'
                )
            return
        versions = []
        for part in raw.split(","):
            match = _STRONG_ETAG.match(part.strip())
            if match is None:
                raise PreconditionFailed(
                    'If-Match must list strong ETags such as "3" (weak or unquoted never match)'
                )
            versions.append(int(match.group(1)))
        if current not in versions:
            raise PreconditionFailed(
                f"the resource is at version {current}; reload it and retry with its ETag"
            )


def etag(version: int) -> str:
    return f'"{version}"'

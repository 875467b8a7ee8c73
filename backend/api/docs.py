"""OpenAPI descriptions of the problem responses every route can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from backend.api.problems import PROBLEM_MEDIA_TYPE


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["https://oddsdesk.dev/problems/not-found"])
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ValidationIssue] | None = Field(
        default=None, description="Present on 422: one entry per invalid input"
    )


_DESCRIPTIONS = {
    400: "Malformed request (invalid JSON, bad Idempotency-Key)",
    401: "Missing, malformed, unknown or revoked API key",
    403: "The key may not call this route",
    404: "No such resource (or not yours)",
    409: "Conflicts with the resource's state",
    412: "If-Match does not match the current version",
    413: "Request body too large",
    415: "Body is not application/json",
    422: "Invalid input",
    428: "If-Match is required",
    503: "Database unavailable; retry after Retry-After seconds",
}


def responses(*codes: int, auth: bool = True) -> dict[int | str, dict[str, Any]]:
    """Problem responses for `codes`, plus 401 (authenticated routes), 500 and 503."""
    wanted = set(codes) | {503}
    if auth:
        wanted.add(401)
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted(wanted):
        out[code] = {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out

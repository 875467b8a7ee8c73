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
    429: "This API key's rate limit is used up; retry after Retry-After seconds",
    503: "Database unavailable; retry after Retry-After seconds",
}


_DESCRIPTIONS[500] = "Unexpected failure (logged; no details leak)"


def problem(code: int) -> dict[str, Any]:
    """The OpenAPI response of one problem status: application/problem+json only."""
    return {
        "description": _DESCRIPTIONS.get(code, "Error"),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Problem responses specific to a route (the route class adds the standard ones)."""
    return {code: problem(code) for code in sorted(codes)}


def standard_problems(authenticated: bool, has_body: bool) -> list[int]:
    codes = [422, 500, 503]
    if authenticated:
        codes += [401, 429]
    if has_body:
        codes += [400, 413, 415]
    return codes


def problem_schemas() -> dict[str, Any]:
    """Component schemas the problem responses refer to."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"Problem": schema, **definitions}

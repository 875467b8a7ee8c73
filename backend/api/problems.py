"""RFC 9457 problem+json: every 4xx/5xx the API sends is built here, from one mapping."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from backend.core import errors
from backend.core.db_errors import classify_db_error
from backend.core.metrics import DB_ERRORS

log = logging.getLogger("oddsdesk.api")

PROBLEM_BASE = "https://oddsdesk.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_S = "1"

# Domain error class -> HTTP status. The most specific class wins (checked in MRO order).
STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.Duplicate: 409,
    errors.StillReferenced: 409,
    errors.ForeignKeyViolation: 422,
    errors.CheckViolation: 422,
    errors.InvalidInput: 422,
    errors.Conflict: 409,
    errors.PreconditionRequired: 428,
    errors.PreconditionFailed: 412,
}

_HTTP_SLUGS = {
    400: ("malformed-request", "Malformed request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Invalid request"),
    500: ("internal-error", "Internal server error"),
    503: ("service-unavailable", "Service unavailable"),
}


class ApiProblem(Exception):
    """Raised by the HTTP layer itself (auth, media type, malformed JSON, body size)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        slug, default_title = _HTTP_SLUGS.get(status, ("error", "Error"))
        self.status = status
        self.detail = detail
        self.code = code or slug
        self.title = title or default_title
        self.headers = dict(headers or {})


def instance_of(scope: Scope) -> str:
    """The request path exactly as sent (percent-escapes kept), without the query string."""
    raw = scope.get("raw_path")
    if raw:
        return str(raw.decode("latin-1").split("?", 1)[0])
    return str(scope.get("path", ""))


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if extra:
        body.update(extra)
    return orjson.dumps(body)


def problem_response(
    scope: Scope,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        content=problem_body(status, code, title, detail, instance_of(scope), extra),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def status_of(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def _loc(loc: Sequence[Any]) -> list[Any]:
    return [p if isinstance(p, int | str) else str(p) for p in loc]


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        out.append({"loc": _loc(err.get("loc", ())), "msg": msg})
    return out


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.DomainError)
    status = status_of(exc)
    extra: Mapping[str, Any] | None = None
    if status == 422:
        listed = getattr(exc, "errors", None)
        loc = exc.loc if isinstance(exc, errors.InvalidInput) else ["body"]
        extra = {"errors": listed or [{"loc": loc, "msg": exc.detail}]}
    elif isinstance(exc, errors.Conflict):
        extra = exc.members
    return problem_response(request.scope, status, exc.code, exc.title, exc.detail, extra=extra)


def _forget_key(request: Request) -> None:
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.key_id is not None:
        request.app.state.key_resolver.forget(key_id=principal.key_id)


async def _key_revoked(request: Request, exc: Exception) -> Response:
    _forget_key(request)
    return problem_response(
        request.scope,
        401,
        "unauthorized",
        "Unauthorized",
        "unknown or revoked API key",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _tenant_inactive(request: Request, exc: Exception) -> Response:
    _forget_key(request)
    return problem_response(
        request.scope,
        403,
        "tenant-inactive",
        "Tenant inactive",
        "the tenant of this API key is deactivated",
    )


async def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return problem_response(
        request.scope, exc.status, exc.code, exc.title, exc.detail, headers=exc.headers
    )


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errs = _validation_errors(exc)
    detail = (
        "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errs[:5])
        or "invalid request"
    )
    return problem_response(
        request.scope, 422, "validation-error", "Invalid request", detail, extra={"errors": errs}
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("error", "Error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no resource at this path"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on this path"
        headers["Allow"] = allowed_methods(request)
    return problem_response(request.scope, exc.status_code, slug, title, detail, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method the path answers (RFC 9110 §15.5.6: all of them, not those of the one
    route that matched first), HEAD wherever GET is."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return ", ".join(sorted(methods, key=lambda m: (order.index(m) if m in order else 99, m)))


def unavailable_response(scope: Scope, kind: str) -> Response:
    details = {
        "pool_timeout": "all database connections are busy; retry shortly",
        "lock_timeout": "the resource is locked by another request; retry shortly",
        "statement_timeout": "the database took too long to answer",
        "connection_lost": "the database connection was lost; retry",
        "too_many_connections": "the database has no free connections; retry shortly",
        "serialization_failure": "too many concurrent changes; retry",
        "deadlock": "too many concurrent changes; retry",
        "partition_missing": "the history table has no partition for this time yet; the "
        "worker makes it, retry shortly",
    }
    return problem_response(
        scope,
        503,
        "database-unavailable",
        "Database unavailable",
        details.get(kind, "the database is unavailable; retry shortly"),
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "pgcode", None) or ""
    # The driver refuses some values before they reach the server (NUL in text, lone
    # surrogates); validation rejects them first, this is the net under it.
    driver_refused = isinstance(orig, ValueError | UnicodeError) and not code
    if code.startswith("22") or driver_refused:
        # A value PostgreSQL refused (out of range, malformed) that validation let through:
        # the caller's input, so 422, with nothing of the driver's message.
        log.warning("data exception from input", extra={"sqlstate": code})
        return problem_response(
            request.scope,
            422,
            "validation-error",
            "Invalid request",
            "a value is out of the range the service can store",
            extra={"errors": [{"loc": ["body"], "msg": "value out of range"}]},
        )
    if code == "OD401":  # the unit of work's key check, reached outside UnitOfWork.run
        return await _key_revoked(request, exc)
    if code == "OD403":
        return await _tenant_inactive(request, exc)
    kind = classify_db_error(exc)
    if kind is not None:
        DB_ERRORS.labels(kind).inc()
        log.warning("database unavailable", extra={"kind": kind, "error": type(exc).__name__})
        return unavailable_response(request.scope, kind)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__))
    state = request.scope.get("state") or {}
    headers = {"X-Request-ID": state["request_id"]} if "request_id" in state else {}
    return problem_response(
        request.scope,
        500,
        "internal-error",
        "Internal server error",
        "the server failed to handle this request; it has been logged",
        headers=headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(errors.KeyRevoked, _key_revoked)
    app.add_exception_handler(errors.TenantInactive, _tenant_inactive)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(sa_exc.SQLAlchemyError, _database_error)
    app.add_exception_handler(Exception, _unexpected)

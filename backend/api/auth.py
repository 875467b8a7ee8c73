"""Bearer-key authentication: the admin key, or a tenant's API key (resolved by `KeyResolver`).

Routes declare what they need with a dependency (`require_any`, `require_admin`,
`require_tenant`); the route class reads those declarations and authenticates before the body
is even parsed, so an anonymous caller always gets 401, whatever it sent.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from backend.api.problems import ApiProblem
from backend.core.errors import TenantInactive
from backend.core.logging import tenant_id_var
from backend.core.principal import ADMIN, Principal
from backend.core.ratelimit import RateLimiter

SECURITY_SCHEME = "bearerAuth"
SECURITY_SCHEMES = {
    SECURITY_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin key or a tenant's API key",
    }
}

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


class AuthRequirement(Enum):
    ANY = "any"
    ADMIN = "admin"
    TENANT = "tenant"


class KeyResolver(Protocol):
    """Turns a presented tenant key into its principal (None when unknown or revoked)."""

    def cached(self, secret: str) -> Principal | None: ...

    def resolve(self, secret: str) -> Principal | None: ...

    def forget(
        self, key_id: uuid.UUID | None = None, tenant_id: uuid.UUID | None = None
    ) -> None: ...


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


async def resolve_principal(request: Request) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = _bearer_token(request)
    if token is None:
        raise ApiProblem(401, "missing or malformed bearer token", headers=UNAUTHORIZED_HEADERS)
    admin_key: str = request.app.state.admin_key
    principal: Principal | None
    if hmac.compare_digest(token.encode(), admin_key.encode()):
        principal = ADMIN
    else:
        resolver: KeyResolver = request.app.state.key_resolver
        try:
            principal = resolver.cached(token) or await run_in_threadpool(resolver.resolve, token)
        except TenantInactive:
            raise ApiProblem(
                403,
                "the tenant of this API key is deactivated",
                code="tenant-inactive",
                title="Tenant inactive",
            ) from None
    if principal is None:
        raise ApiProblem(401, "unknown or revoked API key", headers=UNAUTHORIZED_HEADERS)
    if principal.tenant_id is not None:
        tenant_id_var.set(str(principal.tenant_id))
    if principal.rate_limit is not None:
        await _take_token(request, principal)
    request.state.principal = principal
    return principal


async def _take_token(request: Request, principal: Principal) -> None:
    """One token of the key's bucket, or 429; the RateLimit fields go on the answer."""
    assert principal.rate_limit is not None
    limiter: RateLimiter = request.app.state.rate_limiter
    decision = await limiter.take(str(principal.key_id), principal.rate_limit)
    headers = decision.headers()
    if not decision.allowed:
        raise ApiProblem(
            429,
            f"this API key is limited to {principal.rate_limit.per_s:g} requests a second "
            f"(bursts of {principal.rate_limit.burst}); retry in {decision.retry_after_s} s",
            code="rate-limited",
            title="Too many requests",
            headers=headers,
        )
    request.state.rate_limit_headers = headers


def _check(principal: Principal, requirement: AuthRequirement) -> None:
    if requirement is AuthRequirement.ADMIN and not principal.is_admin:
        raise ApiProblem(403, "this operation needs the admin key")
    if requirement is AuthRequirement.TENANT and principal.tenant_id is None:
        raise ApiProblem(403, "tenant-scoped routes need a tenant API key, not the admin key")


async def authenticate(request: Request, requirement: AuthRequirement) -> Principal:
    principal = await resolve_principal(request)
    _check(principal, requirement)
    return principal


# The route class has authenticated before these run (it reads which one a route declares),
# so each is a cheap read of the cached principal. No sub-dependencies: FastAPI's dependency
# solving is a large part of a request's CPU. OpenAPI gets the bearer scheme from the route.


async def require_any(request: Request) -> Principal:
    return await authenticate(request, AuthRequirement.ANY)


async def require_admin(request: Request) -> Principal:
    return await authenticate(request, AuthRequirement.ADMIN)


async def require_tenant(request: Request) -> Principal:
    return await authenticate(request, AuthRequirement.TENANT)


_ORDER = (
    (require_admin, AuthRequirement.ADMIN),
    (require_tenant, AuthRequirement.TENANT),
    (require_any, AuthRequirement.ANY),
)


def requirement_of(calls: Sequence[object]) -> AuthRequirement | None:
    """The strictest requirement among a route's dependencies (None: a public route)."""
    for dependency, requirement in _ORDER:
        if dependency in calls:
            return requirement
    return None

"""Liveness, readiness and pool status: the operator's view of the process."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from backend.api.deps import AdminDep, DatabaseDep
from backend.api.docs import responses
from backend.api.responses import json_response
from backend.api.routing import ApiRoute
from backend.core.metrics import (
    CACHE_LISTENER_CURRENT,
    POOL_CHECKED_IN,
    POOL_CHECKED_OUT,
    POOL_OVERFLOW,
    POOL_SIZE,
    REGISTRY,
)
from backend.services.health import readiness

router = APIRouter(route_class=ApiRoute)


class PoolRead(BaseModel):
    size: int
    checked_in: int
    checked_out: int
    overflow: int
    max_overflow: int
    timeout_s: float
    recycle_s: int


class DatabaseHealth(BaseModel):
    ok: bool
    latency_ms: float | None


class Readiness(BaseModel):
    status: str
    database: DatabaseHealth
    pool: PoolRead


class Liveness(BaseModel):
    status: str


@router.get("/health/live", response_model=Liveness, tags=["health"])
async def live() -> Response:
    """200 while the process serves requests."""
    return json_response({"status": "ok"})


@router.get(
    "/health/ready",
    response_model=Readiness,
    tags=["health"],
    responses={503: {"model": Readiness, "description": "Database unreachable or slow"}},
)
def ready(db: DatabaseDep) -> Response:
    """Ready when `SELECT 1` answers within 2 s; reports latency and the pool."""
    ok, body = readiness(db)
    return json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})


@router.get("/v1/admin/pool", response_model=PoolRead, tags=["admin"], responses=responses(403))
def pool(db: DatabaseDep, _: AdminDep) -> Response:
    """The connection pool's status (admin)."""
    return json_response(dict(db.pool_status()), headers={"Cache-Control": "no-store"})


@router.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(db: DatabaseDep, request: Request) -> Response:
    """Prometheus metrics of this process."""
    CACHE_LISTENER_CURRENT.set(1 if request.app.state.caches.current else 0)
    pool = db.pool_status()
    POOL_SIZE.set(pool["size"])
    POOL_CHECKED_OUT.set(pool["checked_out"])
    POOL_CHECKED_IN.set(pool["checked_in"])
    POOL_OVERFLOW.set(pool["overflow"])
    return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

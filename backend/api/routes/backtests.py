"""Backtests: run a betting rule over the finished matches, writing nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from backend.api.deps import TenantDep, UnitOfWorkDep
from backend.api.docs import responses
from backend.api.responses import PRIVATE, json_response
from backend.api.routing import ApiRoute
from backend.api.schemas.backtests import BacktestCreate, BacktestRead
from backend.services.backtest_report import bets_csv
from backend.services.backtests import backtest

router = APIRouter(prefix="/v1/backtests", tags=["backtests"], route_class=ApiRoute)

CSV = "text/csv; charset=utf-8"


def _wants_csv(accept: str | None) -> bool:
    if not accept:
        return False
    return any(part.split(";", 1)[0].strip().lower() == "text/csv" for part in accept.split(","))


@router.post(
    "",
    response_model=BacktestRead,
    responses={
        **responses(403, 422),
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
def run_backtest(
    body: BacktestCreate,
    uow: UnitOfWorkDep,
    _: TenantDep,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """What the rule would have done on the finished matches (nothing is written).

    `Accept: text/csv` answers one row per bet instead of the summary."""
    rule = body.rule()
    ledger = backtest(uow, rule)
    if _wants_csv(accept):
        csv = bets_csv(ledger, rule.market, rule.selection)
        return Response(content=csv, media_type=CSV, headers=PRIVATE)
    return json_response(BacktestRead.of(ledger), headers=PRIVATE)

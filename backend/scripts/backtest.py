"""Run a backtest from the command line: the rule fields of `POST /v1/backtests`, a summary
table on stdout, and the per-bet rows as CSV with `--csv FILE` (`-` for stdout).

    python -m backend.scripts.backtest --season 2023-24 --market 1x2 --selection home \\
        --bookmaker Pinnacle --price-source opening --staking flat --stake 10

Bookmakers are named by id or by exact name. The rule is validated exactly as the API
validates it; exit status 0, 1 for a rule that is not valid, 2 when the database fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pydantic
from sqlalchemy import exc as sa_exc

from backend.api.schemas.backtests import BacktestCreate, BacktestRead
from backend.core.config import load_settings
from backend.core.database import create_database
from backend.core.errors import InvalidInput
from backend.core.logging import configure_logging
from backend.core.principal import system
from backend.repositories.unit_of_work import UnitOfWork
from backend.services.backtest_report import bets_csv
from backend.services.backtests import backtest, bookmaker_ids

RULE_FIELDS = (
    ("league", "league name, e.g. 'Premier League'"),
    ("season", "season, e.g. 2023-24"),
    ("kickoff-from", "RFC 3339 start (inclusive)"),
    ("kickoff-to", "RFC 3339 end (exclusive)"),
    ("market", "1x2, ou2.5, ah (Asian handicap) or ou (other totals)"),
    ("selection", "home/draw/away, home/away (ah) or over/under"),
    ("line", "ah / ou: only this line (ah: the home handicap); default: each match's"),
    ("price-source", "opening or closing"),
    ("min-price", "lowest price taken"),
    ("max-price", "highest price taken"),
    ("staking", "flat or kelly"),
    ("stake", "flat stake"),
    ("kelly-fraction", "share of the full Kelly stake (0-1)"),
    ("max-stake", "cap on any stake"),
    ("bankroll", "starting bankroll (default 1000.00)"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend.scripts.backtest",
        description="What a betting rule would have done on the finished matches.",
    )
    for name, help_text in RULE_FIELDS:
        parser.add_argument(f"--{name}", help=help_text)
    parser.add_argument("--bookmaker", required=True, help="the price's bookmaker: id or name")
    parser.add_argument("--closing-bookmaker", help="CLV against it (default: lowest-id sharp)")
    parser.add_argument("--match-id", type=int, action="append", dest="match_ids")
    parser.add_argument("--csv", type=Path, help="write the per-bet rows here ('-': stdout)")
    return parser


def _table(summary: BacktestRead) -> str:
    data = summary.model_dump(mode="json", exclude={"equity", "skipped"})
    data.update({f"skipped {k}": v for k, v in summary.skipped.model_dump().items()})
    width = max(len(k) for k in data)
    return "\n".join(f"{k:<{width}}  {'-' if v is None else v}" for k, v in data.items())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format.value)
    db = create_database(settings)
    try:
        uow = UnitOfWork(db.session_factory, system("backtest"), read_only=True)
        names = [args.bookmaker, args.closing_bookmaker]
        ids = bookmaker_ids(uow, [n for n in names if n is not None])
        unknown = [n for n in names if n is not None and n not in ids]
        if unknown:
            print(f"error: no bookmaker named {unknown[0]!r}", file=sys.stderr)
            return 1
        fields: dict[str, Any] = {
            name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name, _ in RULE_FIELDS
        }
        fields.update(
            bookmaker_id=ids[args.bookmaker],
            closing_bookmaker_id=ids.get(args.closing_bookmaker)
            if args.closing_bookmaker
            else None,
            match_ids=args.match_ids,
        )
        body = BacktestCreate.model_validate({k: v for k, v in fields.items() if v is not None})
        ledger = backtest(uow, body.rule())
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(x) for x in error["loc"]) or "rule"
            print(f"error: {where}: {error['msg']}", file=sys.stderr)
        return 1
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sa_exc.DBAPIError as exc:
        print(f"error: the database failed: {type(exc.orig).__name__}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(_table(BacktestRead.of(ledger)))
    if args.csv is not None:
        rows = bets_csv(ledger, body.market, body.selection)
        if str(args.csv) == "-":
            sys.stdout.write(rows)
        else:
            args.csv.write_text(rows, encoding="utf-8", newline="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

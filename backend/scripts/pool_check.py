"""Check the database the way the application reaches it.

    python -m backend.scripts.pool_check [--json]

Connects with the application's settings (pool, timeouts, role), runs `SELECT 1` through the
pool, and prints the round-trip latency, the server version and the pool status; the same
figures as /health/ready. Exit status: 0 healthy, 2 unreachable within the 2 s timeout.
"""

from __future__ import annotations

import argparse
import json
import sys

from backend.core.config import load_settings
from backend.core.database import create_database
from backend.services.health import diagnostics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.scripts.pool_check",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    db = create_database(load_settings())
    try:
        ok, report = diagnostics(db)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        d, p = report["database"], report["pool"]
        if ok:
            print(
                f"ok: {d['target']} answered SELECT 1 in {d['latency_ms']} ms "
                f"(PostgreSQL {d['server_version']})"
            )
        else:
            print(f"unavailable: {d['target']}: {d['error']}", file=sys.stderr)
        print(
            f"pool: size {p['size']}, checked out {p['checked_out']}, checked in "
            f"{p['checked_in']}, overflow {p['overflow']}/{p['max_overflow']}, timeout "
            f"{p['timeout_s']} s, recycle {p['recycle_s']} s"
        )
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())

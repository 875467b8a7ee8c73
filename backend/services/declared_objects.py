"""The objects only migrations create, which the models cannot describe: append-only
triggers, row-level security and its policies, the leaderboard's views, functions, the
`analytics` schema, the invalidation triggers. The schema check reports each one missing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Declared:
    kind: str  # trigger | policy | rls | view | materialized_view | function | schema
    schema: str
    table: str
    name: str


DECLARED_OBJECTS: tuple[Declared, ...] = (
    Declared("schema", "analytics", "", "analytics"),
    Declared("function", "public", "", "oddsdesk_forbid_change"),
    Declared("trigger", "public", "audit_log", "audit_log_append_only"),
    Declared("trigger", "public", "audit_log", "audit_log_no_truncate"),
    Declared("trigger", "public", "odds_snapshots", "odds_snapshots_append_only"),
    Declared("trigger", "public", "odds_snapshots", "odds_snapshots_no_truncate"),
    *(
        d
        for table in (
            "strategies",
            "bets",
            "idempotency_keys",
            "audit_log",
            "webhook_endpoints",
            "webhook_deliveries",
            "webhook_attempts",
        )
        for d in (
            Declared("rls", "public", table, "row level security (forced)"),
            Declared("policy", "public", table, "tenant_isolation"),
        )
    ),
    Declared("materialized_view", "public", "strategy_leaderboard", "strategy_leaderboard"),
    Declared("view", "public", "tenant_leaderboard", "tenant_leaderboard"),
    Declared("function", "public", "", "refresh_strategy_leaderboard"),
    Declared("function", "public", "", "oddsdesk_assert_api_key"),
    Declared("function", "public", "", "oddsdesk_announce_change"),
    Declared("function", "public", "", "oddsdesk_announce_rebuild"),
    Declared("trigger", "analytics", "team_profiles", "team_profiles_announce_rebuild"),
    *(
        Declared("trigger", "public", table, f"{table}_announce_change")
        for table in ("teams", "bookmakers", "api_keys", "tenants")
    ),
    Declared("function", "public", "", "oddsdesk_notify_jobs"),
    Declared("trigger", "public", "jobs", "jobs_notify"),
    Declared("function", "public", "", "oddsdesk_ensure_partitions"),
)


def declared_exists(conn: Connection, d: Declared) -> bool:
    """Whether the declared object is in the database behind `conn`."""
    queries = {
        "schema": "SELECT 1 FROM pg_namespace WHERE nspname = :name",
        "function": "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = :schema AND p.proname = :name",
        "trigger": "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema "
        "AND c.relname = :table AND t.tgname = :name AND NOT t.tgisinternal "
        "AND t.tgenabled <> 'D'",
        "policy": "SELECT 1 FROM pg_policies WHERE schemaname = :schema "
        "AND tablename = :table AND policyname = :name",
        "rls": "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :schema AND c.relname = :table "
        "AND c.relrowsecurity AND c.relforcerowsecurity",
        "view": "SELECT 1 FROM pg_views WHERE schemaname = :schema AND viewname = :name",
        "materialized_view": "SELECT 1 FROM pg_matviews WHERE schemaname = :schema "
        "AND matviewname = :name",
    }
    params = {"schema": d.schema, "table": d.table, "name": d.name}
    return conn.execute(text(queries[d.kind]), params).first() is not None

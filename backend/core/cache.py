"""Read-through caches for reference data, with explicit invalidation after commit.

Each cache is a bounded LRU with a TTL; the caches of announced reads (teams, bookmakers, their
list pages, team profiles, leaderboards) keep their entries past the TTL while this worker's
PostgreSQL listener is current, since every change of them reaches it. Writers invalidate
through `Caches.invalidate`, which the Unit of Work calls only once a write has committed
(never before, never for a rollback), so the worker that made a change never serves the old
value. Other workers learn of it from PostgreSQL: triggers announce every committed change of a
cached row, and each worker's listener (backend.core.invalidation) drops it, normally within a
millisecond. With REDIS_URL set, invalidations are also published on a Redis channel (the path
for deployments where the listener cannot LISTEN, such as behind a transaction-mode pooler).
With neither, another worker may serve a team or bookmaker up to CACHE_TTL_S old; API keys are
then re-checked in the database by every unit of work (see UnitOfWork._send_pending).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from backend.core.invalidation import InvalidationListener
from backend.core.metrics import CACHE_EVENTS

log = logging.getLogger("oddsdesk.cache")

V = TypeVar("V")
CHANNEL = "oddsdesk:cache-invalidations"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    invalidations: int = 0


class QueryCache(Generic[V]):
    """A bounded LRU whose entries expire `ttl_s` after they were stored, unless `kept_current`
    is given and says True: then every change committed since an entry was stored has been
    applied to it (it is provably fresh), and it lives until invalidated or evicted."""

    def __init__(
        self,
        name: str,
        max_entries: int,
        ttl_s: float,
        kept_current: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._kept_current = kept_current
        self.stats = CacheStats()
        self._data: OrderedDict[Hashable, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every invalidation: a value loaded while one happened may be older than
        # it, and is not cached (see get_or_load).
        self._generation = 0
        # The metric's children, bound once: `labels()` costs more than the increment.
        self._events = {
            e: CACHE_EVENTS.labels(name, e)
            for e in ("hits", "misses", "evictions", "invalidations")
        }

    def _count(self, event: str) -> None:
        setattr(self.stats, event, getattr(self.stats, event) + 1)
        self._events[event].inc()

    def _fresh(self, expires_at: float) -> bool:
        if expires_at >= time.monotonic():
            return True
        kept = self._kept_current
        return kept is not None and kept()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None and self._fresh(found[1]):
                self._data.move_to_end(key)
                self._count("hits")
                return found[0]
            if found is not None:
                del self._data[key]
                self._count("evictions")
            self._count("misses")
            return None

    def peek(self, key: Hashable) -> V | None:
        """The value if it is cached and fresh (a hit), else None without counting a miss:
        for a caller that will go on to `get_or_load`, which counts it."""
        with self._lock:
            found = self._data.get(key)
            if found is None or not self._fresh(found[1]):
                return None
            self._data.move_to_end(key)
            self._count("hits")
            return found[0]

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = (value, time.monotonic() + self.ttl_s)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
                self._count("evictions")

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value, or `load()`'s: cached when it returns, unless an invalidation
        arrived meanwhile (the load may have read the row before that change committed)."""
        value = self.get(key)
        if value is None:
            generation = self._generation
            value = load()
            with self._lock:
                if generation != self._generation:
                    return value
            self.put(key, value)
        return value

    def invalidate(self, key: Hashable | None = None) -> None:
        """Drop one key, or everything (key None)."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._data.clear()
            else:
                self._data.pop(key, None)
            self._count("invalidations")

    def invalidate_where(self, predicate: Callable[[V], bool]) -> None:
        with self._lock:
            self._generation += 1
            for key in [k for k, (v, _) in self._data.items() if predicate(v)]:
                del self._data[key]
            self._count("invalidations")

    def describe(self) -> dict[str, Any]:
        with self._lock:
            size = len(self._data)
        return {
            "hits": self.stats.hits,
            "misses": self.stats.misses,
            "evictions": self.stats.evictions,
            "invalidations": self.stats.invalidations,
            "size": size,
            "max_entries": self.max_entries,
            "ttl_s": self.ttl_s,
        }


class Caches:
    """The process's caches, and how their invalidations reach the other workers."""

    def __init__(
        self,
        max_entries: int,
        ttl_s: float,
        redis_url: str | None = None,
        unknown_key_ttl_s: float = 5.0,
    ) -> None:
        # Reference and derived reads: every change of them is announced on PostgreSQL's
        # channel, so while this worker's listener is current their entries are provably
        # fresh and outlive the TTL (which bounds their age only while it is not).
        def announced(name: str) -> QueryCache[Any]:
            return QueryCache(name, max_entries, ttl_s, kept_current=self._listening)

        self.teams = announced("teams")
        self.bookmakers = announced("bookmakers")
        # API keys always expire after the TTL: a unit of work re-checks its key anyway.
        self.api_keys: QueryCache[Any] = QueryCache("api_keys", max_entries, ttl_s)
        # Hashes of keys the database did not know, briefly: a flood of one bad key costs one
        # lookup per TTL. Only refusals are cached here, so it can never serve a revoked key;
        # a key cannot be presented before it exists (it is random, shown once at creation).
        self.unknown_keys: QueryCache[bool] = QueryCache(
            "unknown_keys", max_entries, unknown_key_ttl_s
        )
        # Pages of the reference lists (their JSON), keyed by the query: any change of a row
        # of the table, an insert included, drops them all.
        self.team_pages = announced("team_pages")
        self.bookmaker_pages = announced("bookmaker_pages")
        self._pages = {"teams": self.team_pages, "bookmakers": self.bookmaker_pages}
        # Derived reads, dropped whole by what rebuilds them: a team's profile by every
        # recompute (and by a change of its team), a tenant's leaderboard page by every
        # refresh of the leaderboard.
        self.team_profiles = announced("team_profiles")
        self.leaderboards = announced("leaderboards")
        self._by_name = {
            c.name: c
            for c in (
                self.teams,
                self.bookmakers,
                self.api_keys,
                self.unknown_keys,
                self.team_pages,
                self.bookmaker_pages,
                self.team_profiles,
                self.leaderboards,
            )
        }
        self._origin = uuid.uuid4().hex
        self._redis: Any = None
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()
        self._postgres: InvalidationListener | None = None
        if redis_url:
            self._connect(redis_url)

    def _listening(self) -> bool:
        return self.current

    @property
    def current(self) -> bool:
        """True while this worker provably holds no value a change committed more than
        CURRENT_FOR_S ago made stale (its PostgreSQL listener is connected and keeping up)."""
        listener = self._postgres
        return listener is not None and listener.current()

    @property
    def listener(self) -> InvalidationListener | None:
        return self._postgres

    def listen(self, connect: Callable[[], Any]) -> InvalidationListener:
        """Start applying PostgreSQL's announcements (a listener thread with a connection
        from `connect`, outside the pool)."""
        if self._postgres is None:
            self._postgres = InvalidationListener(connect, self._announced, self.clear)
            self._postgres.start()
        return self._postgres

    def clear(self) -> None:
        """Drop everything (after announcements may have been missed)."""
        for cache in self._by_name.values():
            cache.invalidate()

    def _announced(self, payload: str) -> None:
        kind, _, ident = payload.partition(":")
        if kind == "api_key":
            self._drop_principals(ident, None)
        elif kind == "tenant":
            self._drop_principals(None, ident)
        elif kind in ("teams", "bookmakers"):
            self._changed(kind, int(ident))
        elif kind in ("team_profiles", "leaderboards") and ident == "*":
            self._changed(kind, None)
        else:
            raise ValueError(f"unknown announcement {payload!r}")

    def _changed(self, name: str, key: Any) -> None:
        """A row of `name` changed (or was added): its cached value and every cached page of
        its list are gone."""
        self._by_name[name].invalidate(key)
        pages = self._pages.get(name)
        if pages is not None:
            pages.invalidate()
        if name == "teams":  # a profile holds its team's columns
            self.team_profiles.invalidate(key)

    def get(self, name: str) -> QueryCache[Any] | None:
        return self._by_name.get(name)

    def invalidate(self, name: str, key: Any = None) -> None:
        """Drop a key here and, with Redis, in every other worker."""
        self._changed(name, key)
        if self._redis is not None:
            message = orjson.dumps({"o": self._origin, "c": name, "k": _wire(key)})
            try:
                self._redis.publish(CHANNEL, message)
            except Exception:  # the write committed; workers fall back to the TTL
                log.exception("cache invalidation not published")

    def invalidate_principals(
        self, key_id: uuid.UUID | None = None, tenant_id: uuid.UUID | None = None
    ) -> None:
        """Drop cached API-key lookups of one key or of a whole tenant, on every worker."""
        self._drop_principals(
            str(key_id) if key_id else None, str(tenant_id) if tenant_id else None
        )
        if self._redis is not None:
            message = orjson.dumps(
                {
                    "o": self._origin,
                    "c": "api_keys",
                    "key_id": str(key_id) if key_id else None,
                    "tenant_id": str(tenant_id) if tenant_id else None,
                }
            )
            try:
                self._redis.publish(CHANNEL, message)
            except Exception:
                log.exception("cache invalidation not published")

    def _drop_principals(self, key_id: str | None, tenant_id: str | None) -> None:
        self.api_keys.invalidate_where(
            lambda p: (
                (key_id is not None and str(p.key_id) == key_id)
                or (tenant_id is not None and str(p.tenant_id) == tenant_id)
            )
        )

    def describe(self) -> dict[str, Any]:
        channels = [
            name
            for name, on in (("postgres", self._postgres), ("redis", self._redis))
            if on is not None
        ]
        listener = self._postgres
        return {
            "invalidation": "+".join(channels) or "local",
            "listener": None
            if listener is None
            else {
                "current": listener.current(),
                "confirmed_ms_ago": listener.confirmed_ms_ago(),
                "connects": listener.connects,
            },
            "caches": {n: c.describe() for n, c in self._by_name.items()},
        }

    # -- Redis ------------------------------------------------------------------------------

    def _connect(self, url: str) -> None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._redis = client  # publishing fails (and is logged) while Redis is down
        self._listener = threading.Thread(
            target=self._listen, args=(pubsub,), daemon=True, name="cache-invalidations-redis"
        )
        self._listener.start()

    def _listen(self, pubsub: Any) -> None:
        # Subscribed here, not at start-up: Redis being down never stops the app from
        # starting; the thread keeps trying (redis-py re-subscribes after a reconnect).
        while not self._closed.is_set():
            try:
                if not pubsub.subscribed:
                    pubsub.subscribe(CHANNEL)
                message = pubsub.get_message(timeout=1.0)
            except Exception:
                if self._closed.is_set():
                    return
                log.exception("cache invalidation channel lost; retrying")
                time.sleep(1)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                data = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                continue
            if data.get("o") == self._origin:
                continue
            if data.get("c") == "api_keys":
                self._drop_principals(data.get("key_id"), data.get("tenant_id"))
                continue
            if data.get("c") in self._by_name:
                self._changed(data["c"], data.get("k"))

    def close(self) -> None:
        self._closed.set()
        if self._postgres is not None:
            self._postgres.close()
        if self._redis is not None:
            self._redis.close()


def _wire(key: Any) -> Any:
    return str(key) if isinstance(key, uuid.UUID) else key

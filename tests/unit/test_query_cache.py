"""The query cache's own rules, without a database: a value loaded while an invalidation
arrived is returned but never cached (it may predate the change), and `peek` counts no miss."""

from __future__ import annotations

from backend.core.cache import QueryCache


def test_a_value_loaded_across_an_invalidation_is_not_cached() -> None:
    cache: QueryCache[str] = QueryCache("test_pages", max_entries=10, ttl_s=60)

    def load_while_a_write_commits() -> str:
        cache.invalidate()  # the write's after-commit hook, or PostgreSQL's announcement
        return "the page as it was before the write"

    assert (
        cache.get_or_load("k", load_while_a_write_commits) == "the page as it was before the write"
    )
    assert cache.peek("k") is None  # not kept: the next reader loads afresh
    assert cache.get_or_load("k", lambda: "fresh") == "fresh"
    assert cache.peek("k") == "fresh"


def test_peek_counts_hits_but_leaves_misses_to_the_load() -> None:
    cache: QueryCache[int] = QueryCache("test_peek", max_entries=10, ttl_s=60)
    assert cache.peek(1) is None
    assert cache.get_or_load(1, lambda: 7) == 7
    assert cache.peek(1) == 7
    stats = cache.describe()
    assert (stats["hits"], stats["misses"]) == (1, 1)


def test_an_expired_value_is_not_peeked() -> None:
    cache: QueryCache[int] = QueryCache("test_ttl", max_entries=10, ttl_s=-1)  # expired at once
    cache.put(1, 7)
    assert cache.peek(1) is None


def test_an_entry_kept_current_outlives_its_ttl_only_while_it_is_kept_current() -> None:
    """The announced caches: past the TTL an entry is served while the invalidation channel
    is current (every change since it was stored has been applied), and expires once not."""
    current = [True]
    cache: QueryCache[int] = QueryCache(
        "test_kept", max_entries=10, ttl_s=-1, kept_current=lambda: current[0]
    )
    cache.put(1, 7)
    assert cache.get(1) == 7
    assert cache.peek(1) == 7
    current[0] = False
    assert cache.peek(1) is None
    assert cache.get(1) is None
    current[0] = True
    assert cache.get(1) is None  # expired and dropped: loaded afresh

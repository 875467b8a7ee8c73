"""Integer ids (teams, bookmakers, matches) are PostgreSQL `integer`s: larger ones name no row."""

MAX_INT_ID = 2**31 - 1


def storable_id(value: int) -> bool:
    """Whether `value` can be an integer id at all (a filter on any other matches nothing)."""
    return 0 < value <= MAX_INT_ID

from __future__ import annotations

import pytest

from backend.core.errors import PreconditionFailed, PreconditionRequired
from backend.core.versioning import ExpectedVersion


@pytest.mark.parametrize("header", [None, "", "*", "  "])
def test_missing_or_star_is_428_when_required(header: str | None) -> None:
    with pytest.raises(PreconditionRequired):
        ExpectedVersion(header, required=True).check(3)


@pytest.mark.parametrize("header", [None, "*"])
def test_missing_is_fine_when_optional(header: str | None) -> None:
    ExpectedVersion(header, required=False).check(3)


@pytest.mark.parametrize("header", ['"2"', 'W/"3"', "3", '"abc"', "garbage", '"3', '""'])
def test_stale_weak_or_garbage_is_412(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        ExpectedVersion(header, required=True).check(3)


def test_current_version_passes_including_in_a_list() -> None:
    ExpectedVersion('"3"', required=True).check(3)
    ExpectedVersion('"1", "3"', required=True).check(3)

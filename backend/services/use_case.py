"""`@use_case`: a service function runs in its own unit of work, retried whole on the failures
worth retrying (serialization failure, deadlock, a connection found dead before any work).

Routes call `service(uow, ...)` with a unit not yet entered; the use case enters it, runs, and
leaves it (committed by the function, or rolled back). A use case called from inside another
one's open unit joins that unit: one transaction, retried (if at all) by the outer use case.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from backend.repositories.unit_of_work import UnitOfWork

P = ParamSpec("P")
T = TypeVar("T")


def use_case(
    fn: Callable[Concatenate[UnitOfWork, P], T],
) -> Callable[Concatenate[UnitOfWork, P], T]:
    @functools.wraps(fn)
    def run(uow: UnitOfWork, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if uow.is_open:
            return fn(uow, *args, **kwargs)
        return uow.run(fn, *args, **kwargs)

    return run

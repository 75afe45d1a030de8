"""Open the Dagster instance, riding out the race of processes creating a new shared database's schema.

The first process to open an empty Postgres database creates Dagster's tables, types and alembic stamp
(``should_autocreate_tables``). Processes opening it at the same moment (two `evidence-lake` commands
started together, or one beside `dagster-daemon`) race: Dagster retries a ``DuplicateTable`` and a unique
violation, but not ``DuplicateObject`` (``type "runs" already exists``: the row type Postgres makes with
each table) nor ``instance_info`` created outside its retry. 4 of 10 rounds of eight processes opening a
new database at once lost one here. The loser's transaction is rolled back whole, and once the winner
has committed the tables are there, so opening again is exact: the schema is created once, stamped once.
The sqlite instance needs none of this (an flock in ``resources.instance_storage`` serialises its first open).
"""

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

# duplicate_table, duplicate_object, unique_violation: what a concurrent CREATE TABLE / CREATE TYPE /
# stamp raises in the process that lost
CREATION_RACE_PGCODES = frozenset({"42P07", "42710", "23505"})
ATTEMPTS = 8


def is_creation_race(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is another process having created the same object."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(getattr(current, "orig", None), "pgcode", None) in CREATION_RACE_PGCODES:
            return True
        if getattr(current, "pgcode", None) in CREATION_RACE_PGCODES:
            return True
        if type(current).__name__ == "DagsterPostgresException" and "DB creation" in str(current):
            return True  # Dagster's own creation retries ran out against the same race
        current = current.__cause__ or current.__context__
    return False


def open_racing(open_fn: Callable[[], T], attempts: int = ATTEMPTS, first_wait_s: float = 0.1) -> T:
    """``open_fn()``, again after a short jittered wait when it lost a schema-creation race; other errors raise."""
    for attempt in range(1, attempts + 1):
        try:
            return open_fn()
        except Exception as exc:
            if attempt == attempts or not is_creation_race(exc):
                raise
            wait = first_wait_s * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311 (jitter, not secrets)
            log.info("another process created the instance's schema at the same time (%s); opening again in %.2f s",
                     type(exc).__name__, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")

"""Database writes that outlast a restart: a worker that finished a call must not lose it
because Postgres was restarting at that moment."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)
T = TypeVar("T")


def with_db_retry(
    fn: Callable[[], T], *, what: str, for_seconds: float = 60.0, pause: float = 0.5
) -> T:
    """Run `fn`; while the database is unreachable, drop the broken connection and try again,
    for up to `for_seconds`. `fn` must be safe to run again (every status move here is a
    compare-and-set). Other errors pass through at once."""
    deadline = time.monotonic() + for_seconds
    while True:
        try:
            return fn()
        except (OperationalError, InterfaceError) as exc:
            connection.close()  # a dead session: the next attempt opens a fresh one
            if time.monotonic() >= deadline:
                raise
            log.warning("%s: database unreachable (%s); retrying", what, exc.__class__.__name__)
            time.sleep(pause)

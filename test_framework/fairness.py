"""One organization's runs must not stall another's on a shared calls worker.

Before a call begins, a run fetches join details from its session endpoint and synthesises its
caller's lines: work bounded by deadlines (tens of seconds against an endpoint that never
answers) but that holds one of the worker's threads all along. A calls worker process lets at
most ORG_MAX_CONNECTING runs of one organization be in that phase at once; another of its runs
that arrives then is not claimed but handed back to the queue a little later (it stays
`in_queue`), so the thread is free for other organizations' runs at once. A run leaves the
phase when its call begins to join the channel, or when it ends.

The count is per process: it holds on the shared-loop calls worker (the default, every call of
a worker in one process), not across the processes of a prefork worker.
"""

from __future__ import annotations

import threading
from collections import Counter

from django.conf import settings


class ConnectingGate:
    """Runs of each organization that this process is connecting now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: Counter[int] = Counter()

    def try_enter(self, organization_id: int) -> bool:
        limit = settings.ORG_MAX_CONNECTING
        with self._lock:
            if limit > 0 and self._count[organization_id] >= limit:
                return False
            self._count[organization_id] += 1
            return True

    def leave(self, organization_id: int) -> None:
        with self._lock:
            self._count[organization_id] -= 1
            if self._count[organization_id] <= 0:
                del self._count[organization_id]

    def connecting(self, organization_id: int) -> int:
        with self._lock:
            return self._count[organization_id]


class Pass:
    """One run's way through the gate: left once, whichever comes first (the call joining,
    or the run ending)."""

    def __init__(self, gate: ConnectingGate, organization_id: int) -> None:
        self.gate, self.organization_id = gate, organization_id
        self._left = False
        self._lock = threading.Lock()

    def leave(self) -> None:
        with self._lock:
            if self._left:
                return
            self._left = True
        self.gate.leave(self.organization_id)


CONNECTING = ConnectingGate()

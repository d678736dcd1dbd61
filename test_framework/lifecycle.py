"""A run's lifecycle: the moves its status may make, and the one function that makes them.

Every status change of a run goes through `run_move` (one run) or `runs_move` (many at once):
each is one conditional UPDATE on the status the run is in, so of two workers racing for a run
one wins and the other is told it lost. A move the table does not allow is a programming error
and raises `IllegalMove`; asking to move a run that has already ended returns False (a task
delivered twice does nothing the second time).

The credit rule lives here too, once: a run is charged for a call that was recorded. A run that
ends before its call was stored (from pending, in_queue or running: cancelled before it started,
never connected, failed on our side, reaped mid-call) has its credit refunded in the same
transaction as its final status, so it is refunded at most once. A run ends from `evaluating`
only after its call was stored, and is charged however it ends.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cekura.accounts.services import credits_refund

from .choices import TERMINAL, Status
from .models import Run

MOVES: dict[str, frozenset[str]] = {
    # pending → failed: the launch's pre-trigger webhook was refused (test_framework.webhooks).
    Status.PENDING: frozenset({Status.IN_QUEUE, Status.CANCELLED, Status.FAILED}),
    Status.IN_QUEUE: frozenset({Status.RUNNING, Status.CANCELLED, Status.FAILED}),
    Status.RUNNING: frozenset({Status.EVALUATING, Status.FAILED, Status.TIMEOUT, Status.CANCELLED}),
    Status.EVALUATING: frozenset(
        {Status.COMPLETED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED}
    ),
}

# Statuses in which the run's call has not been stored: ending from one of them refunds.
NOT_CHARGED = frozenset({Status.PENDING, Status.IN_QUEUE, Status.RUNNING})

# Fields a move may set besides the status (the lifecycle facts and what a finished run keeps).
MOVE_FIELDS = frozenset(
    {
        "success",
        "error_message",
        "metadata",
        "transcript",
        "transcript_object",
        "evaluation",
        "expected_outcome",
        "recording",
        "duration_seconds",
        "executed_at",
        "heartbeat_at",
        "machine",
        "ended_reason",
        "infrastructure",
        "cancelled_while",
        "reaped",
        "post_processing_failed",
    }
)

RACE_RETRIES = 5  # a run that changes status between the read and the update is read again


class IllegalMove(ValueError):
    """A status change the lifecycle table does not allow."""


def allowed(source: str, target: str) -> bool:
    return target in MOVES.get(source, frozenset())


def refunds(source: str, target: str) -> bool:
    """The credit rule: ending a run whose call was not stored gives its credit back."""
    return target in TERMINAL and source in NOT_CHARGED


def _check(sources: Collection[str], target: str) -> None:
    for source in sources:
        if source not in TERMINAL and not allowed(source, target):
            raise IllegalMove(f"a run cannot move from {source} to {target}")


def _fields(target: str, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - MOVE_FIELDS
    if unknown:
        raise TypeError(f"run_move does not set {sorted(unknown)}")
    now = timezone.now()
    out = {**fields, "status": target, "updated_at": now}
    if "error_message" in out:
        out["error_message"] = str(out["error_message"])[:2000]
    if "ended_reason" in out:
        out["ended_reason"] = str(out["ended_reason"] or "")[:64]
    if target in TERMINAL:
        out["finished_at"] = now
    return out


def run_move(
    run_id: int, target: str, *, sources: Collection[str] | None = None, **fields: Any
) -> bool:
    """Move one run to `target`, setting `fields` with it, if it is in one of `sources` (any
    status the table allows to reach `target` when None). Returns False when the run is missing,
    has already ended, or is in none of `sources` (another worker moved it first). Raises
    IllegalMove for a move the table does not allow. Ending a run settles its credit."""
    if sources is not None:
        _check(sources, target)
    values = _fields(target, fields)
    for _ in range(RACE_RETRIES):
        row = Run.objects.filter(pk=run_id).values_list("status", "organization_id").first()
        if row is None:
            return False
        source, organization_id = row
        if source in TERMINAL or (sources is not None and source not in sources):
            return False
        _check([source], target)
        refund = refunds(source, target)
        with transaction.atomic():
            moved = Run.objects.filter(pk=run_id, status=source).update(
                **values, credit_refunded=refund
            )
            if moved and refund:
                credits_refund(organization_id=organization_id, amount=settings.CREDITS_PER_RUN)
        if moved:
            return True
    return False


def runs_move(
    run_ids: Sequence[int], target: str, *, sources: Collection[str], **fields: Any
) -> list[int]:
    """Move many runs of one organization at once, each only if it is in one of `sources`
    (every one of which must allow `target`, and all charge alike). One UPDATE; their credits
    are settled in the same transaction. Returns the ids that moved."""
    _check(sources, target)
    if len({refunds(s, target) for s in sources}) > 1:
        raise IllegalMove(f"moving from {sorted(sources)} to {target} would charge some, not all")
    refund = refunds(next(iter(sources)), target)
    values = _fields(target, fields)
    with transaction.atomic():
        rows = list(
            Run.objects.select_for_update()
            .filter(pk__in=list(run_ids), status__in=list(sources))
            .values_list("pk", "organization_id")
        )
        if not rows:
            return []
        if len({org for _, org in rows}) > 1:
            raise IllegalMove("runs_move moves the runs of one organization")
        ids = [pk for pk, _ in rows]
        Run.objects.filter(pk__in=ids).update(**values, credit_refunded=refund)
        if refund:
            credits_refund(organization_id=rows[0][1], amount=len(ids) * settings.CREDITS_PER_RUN)
    return ids

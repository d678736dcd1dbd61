"""Schedules: firing each due cron job exactly once per fire time, however many beats run."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from cekura.errors import DomainError, InsufficientBalance

from .. import schedules
from ..choices import TERMINAL
from ..models import CronFiring, CronJob, Result
from .launch import result_launch_selected

log = logging.getLogger(__name__)


def cron_job_schedule(job: CronJob, *, after: datetime | None = None) -> None:
    """Set the job's next fire time from now (or `after`): on create, on change, on resume."""
    when = after or timezone.now()
    nxt = schedules.next_fire_times(job.expression, job.timezone, when)[0] if job.enabled else None
    CronJob.objects.filter(pk=job.pk).update(next_fire_at=nxt)
    job.next_fire_at = nxt


def cron_jobs_fire_due(*, now: datetime | None = None) -> list[CronFiring]:
    """Fire every enabled job whose next fire time has come. Each fire time is claimed by
    compare-and-set on next_fire_at (moved on to the next time after now, so a beat that was
    down does not fire the missed ones in a burst), and recorded once (a unique firing row):
    two beats racing fire it once. Returns the firings made here."""
    now = now or timezone.now()
    fired = []
    due = CronJob.objects.filter(enabled=True, next_fire_at__lte=now).values_list(
        "pk", "next_fire_at"
    )
    for pk, fire_at in list(due):
        if fire_at is None:  # the filter asked for a time; for the type checker
            continue
        job = CronJob.objects.select_related("organization").get(pk=pk)
        upcoming = schedules.next_fire_times(job.expression, job.timezone, now)[0]
        if not CronJob.objects.filter(pk=pk, next_fire_at=fire_at).update(next_fire_at=upcoming):
            continue  # another beat claimed this fire time
        try:
            with transaction.atomic():
                firing = CronFiring.objects.create(job=job, fire_at=fire_at)
        except IntegrityError:
            continue  # already fired (a claim that raced a restart)
        _launch(job, firing)
        fired.append(firing)
    return fired


def _launch(job: CronJob, firing: CronFiring) -> None:
    running = (
        Result.objects.filter(cron_job=job)
        .exclude(status__in=TERMINAL)
        .values_list("pk", flat=True)
    )
    if not job.allow_overlap and running:
        skip = f"result {running[0]} of this schedule is still in progress"
    else:
        scenarios = job.scenarios or {}
        try:
            result = result_launch_selected(
                organization=job.organization,
                agent_id=job.agent_id,
                scenario_ids=scenarios.get("ids"),
                first_n=scenarios.get("first_n"),
                frequency=job.frequency,
                name=f"{job.name} ({firing.fire_at:%Y-%m-%d %H:%M} UTC)",
                concurrency_limit=job.concurrency_limit,
                personality_ids=job.personality_ids or None,
                cron_job=job,
            )
        except InsufficientBalance:
            skip = "not enough credits for the launch"
        except DomainError as exc:
            skip = exc.message
        else:
            CronFiring.objects.filter(pk=firing.pk).update(result=result)
            firing.result = result
            log.info("schedule %s: fired, result %s", job.pk, result.pk)
            return
    CronFiring.objects.filter(pk=firing.pk).update(skipped=skip[:500])
    firing.skipped = skip
    log.info("schedule %s: fire time %s skipped: %s", job.pk, firing.fire_at, skip)

"""Schedules: fire times across daylight-saving changes, exactly one firing per fire time even
with two beats racing, the skips (credits, overlap), and the API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from test_framework import services
from test_framework.models import CronFiring, CronJob, Result
from test_framework.schedules import ScheduleError, describe, next_fire_times
from tests.factories import AgentFactory, ScenarioFactory


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_fire_times_keep_the_local_hour_across_daylight_saving() -> None:
    # 09:00 Berlin is 08:00 UTC in winter, 07:00 UTC in summer (clocks go forward 2027-03-28).
    times = next_fire_times("0 9 * * *", "Europe/Berlin", utc(2027, 3, 26, 12), 3)
    assert times == [utc(2027, 3, 27, 8), utc(2027, 3, 28, 7), utc(2027, 3, 29, 7)]
    # 02:30 does not exist on the spring-forward night: it fires at 03:00 local (01:00 UTC).
    spring = next_fire_times("30 2 * * *", "Europe/Berlin", utc(2027, 3, 27, 12), 2)
    assert spring == [utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 30)]
    # 02:30 happens twice on the fall-back night (2027-10-31): a daily job fires once.
    autumn = next_fire_times("30 2 * * *", "Europe/Berlin", utc(2027, 10, 30, 12), 2)
    assert autumn == [utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)]
    # Weekdays only: Friday 2027-03-26 09:00, then Monday.
    weekdays = next_fire_times("0 9 * * 1-5", "UTC", utc(2027, 3, 26, 8), 2)
    assert weekdays == [utc(2027, 3, 26, 9), utc(2027, 3, 29, 9)]
    assert describe("0 9 * * 1-5", "Europe/Berlin") == (
        "At 09:00, Monday through Friday (Europe/Berlin)"
    )


@pytest.mark.parametrize(
    ("expression", "zone", "message"),
    [
        ("0 9 * *", "UTC", "five fields"),
        ("61 * * * *", "UTC", "not a valid cron expression"),
        ("0 9 * * *", "Mars/Olympus", "not an IANA time zone"),
    ],
)
def test_bad_expressions_and_zones_say_why(expression: str, zone: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        next_fire_times(expression, zone, utc(2027, 1, 1))


def make_job(org: Any, **kw: Any) -> CronJob:
    agent = AgentFactory(organization=org)
    scenario = ScenarioFactory(agent=agent)
    job = CronJob.objects.create(
        organization=org,
        name="Nightly",
        expression="0 2 * * *",
        agent=agent,
        scenarios={"ids": [scenario.pk]},
        **kw,
    )
    services.cron_job_schedule(job, after=utc(2027, 1, 1))
    return job


@pytest.fixture
def no_calls(monkeypatch: Any) -> list[int]:
    sent: list[int] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: sent.append(run_id)
    )
    return sent


def test_a_due_job_launches_once_and_moves_on(org: Any, no_calls: list[int]) -> None:
    job = make_job(org)
    assert job.next_fire_at == utc(2027, 1, 1, 2)
    assert services.cron_jobs_fire_due(now=utc(2027, 1, 1, 1, 59)) == []  # not yet
    (firing,) = services.cron_jobs_fire_due(now=utc(2027, 1, 1, 2, 0, 10))
    result = Result.objects.get()
    assert firing.result == result and result.is_cronjob and result.cron_job == job
    assert result.runs.filter(status="in_queue").count() == 1  # sent once this commits
    job.refresh_from_db()
    assert job.next_fire_at == utc(2027, 1, 2, 2)
    # A beat that was down for three days fires the latest time once, not a burst.
    Result.objects.update(status="completed")
    fired = services.cron_jobs_fire_due(now=utc(2027, 1, 5, 3))
    assert [f.fire_at for f in fired] == [utc(2027, 1, 2, 2)]
    job.refresh_from_db()
    assert job.next_fire_at == utc(2027, 1, 6, 2)


@pytest.mark.django_db(transaction=True)
def test_two_beats_racing_fire_a_fire_time_once(org: Any, no_calls: list[int]) -> None:
    job = make_job(org)
    barrier = threading.Barrier(2)
    fired: list[int] = []

    def beat() -> None:
        barrier.wait()
        try:
            fired.extend(f.pk for f in services.cron_jobs_fire_due(now=utc(2027, 1, 1, 2, 1)))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(fired) == 1
    assert CronFiring.objects.filter(job=job).count() == 1 and Result.objects.count() == 1


def test_a_fire_time_is_skipped_with_the_reason(org: Any, no_calls: list[int]) -> None:
    job = make_job(org)
    org.credits = 0
    org.save()
    (firing,) = services.cron_jobs_fire_due(now=utc(2027, 1, 1, 2, 1))
    assert firing.result is None and firing.skipped == "not enough credits for the launch"
    org.credits = 10
    org.save()
    (first,) = services.cron_jobs_fire_due(now=utc(2027, 1, 2, 2, 1))
    assert first.result is not None
    # The previous result is still in progress: no second one on top of it.
    (second,) = services.cron_jobs_fire_due(now=utc(2027, 1, 3, 2, 1))
    assert second.skipped == f"result {first.result.pk} of this schedule is still in progress"
    CronJob.objects.filter(pk=job.pk).update(allow_overlap=True)
    (third,) = services.cron_jobs_fire_due(now=utc(2027, 1, 4, 2, 1))
    assert third.result is not None and Result.objects.count() == 2


def test_cron_jobs_api(org: Any, client: APIClient, no_calls: list[int]) -> None:
    agent = AgentFactory(organization=org)
    ScenarioFactory(agent=agent)
    r = client.post(
        "/schedules/v1/cron-jobs/",
        {
            "name": "Weekday mornings",
            "expression": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "agent": agent.pk,
            "scenarios": "all",
            "frequency": 2,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["description"] == "At 09:00, Monday through Friday (Europe/Berlin)"
    assert len(body["next_fire_times"]) == 5 and body["scenarios"] == {"all": True}
    job = CronJob.objects.get()
    assert job.next_fire_at is not None and job.next_fire_at > datetime.now(UTC)
    assert job.next_fire_at - datetime.now(UTC) < timedelta(days=4)
    r = client.patch(f"/schedules/v1/cron-jobs/{job.pk}/", {"enabled": False}, format="json")
    assert r.status_code == 200 and r.json()["next_fire_times"] == []
    job.refresh_from_db()
    assert job.next_fire_at is None  # paused: never due
    bad = client.post(
        "/schedules/v1/cron-jobs/",
        {
            "name": "x",
            "expression": "0 25 * * *",
            "agent": AgentFactory().pk,  # another organization's agent
            "scenarios": [],
        },
        format="json",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"agent", "scenarios"}
    bad = client.post(
        "/schedules/v1/cron-jobs/",
        {"name": "x", "expression": "0 25 * * *", "agent": agent.pk, "scenarios": "all"},
        format="json",
    )
    assert bad.status_code == 400 and "not a valid cron expression" in bad.json()["expression"][0]
    assert CronJob.objects.count() == 1
    history = client.get(f"/schedules/v1/cron-jobs/{job.pk}/history/").json()
    assert history == {"id": job.pk, "name": "Weekday mornings", "firings": []}
    CronJob.objects.filter(pk=job.pk).update(
        enabled=True, next_fire_at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    (firing,) = services.cron_jobs_fire_due(now=datetime(2027, 1, 1, 0, 1, tzinfo=UTC))
    result = client.get(f"/test_framework/v1/results/{firing.result.pk}/").json()
    assert result["is_cronjob"] is True and result["cron_job"] == job.pk
    history = client.get(f"/schedules/v1/cron-jobs/{job.pk}/history/").json()
    assert history["firings"][0]["result"] == firing.result.pk

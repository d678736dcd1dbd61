"""Webhooks against a real HTTP receiver on loopback: the signature a receiver can check, the
retries and their limits, the address guard, and the events a run and a result send."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rest_framework.test import APIClient

from test_framework import services
from test_framework.choices import Status
from test_framework.models import Webhook, WebhookDelivery
from test_framework.tasks import deliver_webhook
from tests.factories import ResultFactory, RunFactory

SECRET = "whsec-test-value-never-shown"


class Receiver:
    """A webhook receiver: answers each request with the next status of `answers` (the last
    one over and over), and keeps what it got."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.got: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), body))
                status = (
                    receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/cekura"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def inline(monkeypatch: Any) -> list[float]:
    """Deliveries are attempted here at once, as the maintenance worker would; the backoff each
    retry asked for is kept."""
    waits: list[float] = []

    def send(delivery_id: int, *, countdown: float = 0) -> None:
        if countdown:
            waits.append(countdown)
        deliver_webhook(delivery_id)

    monkeypatch.setattr("test_framework.dispatch.send_webhook", send)
    return waits


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(answers: list[int]) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


def finished_result(org: Any, webhook_url: str, events: list[str]) -> tuple[Any, Any]:
    Webhook.objects.create(organization=org, url=webhook_url, secret=SECRET, events=events)
    result = ResultFactory(agent__organization=org)
    run = RunFactory(result=result, evaluating=True)
    return result, run


def test_a_result_completed_delivery_is_signed_and_in_the_hosted_shape(
    org: Any, inline: list[float], receiver_factory: Any, django_capture_on_commit_callbacks: Any
) -> None:
    receiver = receiver_factory([204])
    result, run = finished_result(org, receiver.url, ["result.completed"])
    with django_capture_on_commit_callbacks(execute=True):
        services.run_finish(run_id=run.pk, status=Status.COMPLETED, success=True)
    (headers, body), *_ = receiver.got
    assert len(receiver.got) == 1
    assert headers["X-CEKURA-SECRET"] == SECRET
    assert headers["X-CEKURA-IDEMPOTENCY-KEY"] == f"result_completed:{result.pk}"
    expected = hmac.new(
        SECRET.encode(), headers["X-CEKURA-TIMESTAMP"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-CEKURA-SIGNATURE"] == f"v1={expected}"
    sent = json.loads(body)
    assert sent["event_type"] == "result.completed"
    data = sent["data"]
    assert (data["id"], data["status"], data["success_rate"], data["is_cronjob"]) == (
        result.pk,
        "completed",
        100.0,
        False,
    )
    first = data["runs"]["1"]
    assert first["id"] == run.pk and first["success"] is True
    assert set(first["scenario"]) >= {"id", "name", "personality_name", "expected_outcome_prompt"}
    assert SECRET not in body.decode()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("delivered", 1, 204)


def test_a_failing_receiver_is_tried_three_times_with_backoff(
    org: Any, inline: list[float], receiver_factory: Any, django_capture_on_commit_callbacks: Any
) -> None:
    receiver = receiver_factory([500, 503, 200])
    result, run = finished_result(org, receiver.url, ["result.completed", "run.completed"])
    with django_capture_on_commit_callbacks(execute=True):
        services.run_finish(run_id=run.pk, status=Status.COMPLETED, success=True)
    deliveries = {d.event: d for d in WebhookDelivery.objects.all()}
    assert set(deliveries) == {"run.completed", "result.completed"}
    # The first delivery took the two failures: three attempts, the backoff between them.
    tried = [d for d in deliveries.values() if d.attempts == 3]
    assert len(tried) == 1 and tried[0].state == "delivered" and tried[0].status_code == 200
    assert inline == [2.0, 8.0]
    keys = [h["X-CEKURA-IDEMPOTENCY-KEY"] for h, _ in receiver.got]
    assert keys[0] == keys[1] == keys[2]  # every attempt of one event: the same key
    # Emitting an event again delivers nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        services.result_refresh(result_id=result.pk)
    assert WebhookDelivery.objects.count() == 2 and len(receiver.got) == 4


def test_a_receiver_that_refuses_is_not_tried_again_and_can_be_resent(
    org: Any,
    client: APIClient,
    inline: list[float],
    receiver_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    receiver = receiver_factory([410, 200])
    result, run = finished_result(org, receiver.url, ["result.completed"])
    with django_capture_on_commit_callbacks(execute=True):
        services.run_finish(run_id=run.pk, status=Status.FAILED, infrastructure=True)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("failed", 1, 410)
    assert delivery.error == "the receiver answered HTTP 410" and inline == []
    listed = client.get("/test_framework/v1/webhook-deliveries/").json()["results"]
    assert [d["id"] for d in listed] == [delivery.pk] and listed[0]["state"] == "failed"
    r = client.post(f"/test_framework/v1/webhook-deliveries/{delivery.pk}/resend/")
    assert r.status_code == 200 and r.json()["state"] == "delivered"
    assert len(receiver.got) == 2 and receiver.got[0][1] == receiver.got[1][1]  # the same body


def test_the_address_guard_refuses_a_private_receiver_before_connecting(
    org: Any,
    settings: Any,
    inline: list[float],
    receiver_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SESSION_ENDPOINT_ALLOW = []
    receiver = receiver_factory([200])
    result, run = finished_result(org, receiver.url, ["result.completed"])
    with django_capture_on_commit_callbacks(execute=True):
        services.run_finish(run_id=run.pk, status=Status.COMPLETED, success=True)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed" and delivery.attempts == 1 and receiver.got == []
    assert "resolves to 127.0.0.1 (loopback address)" in delivery.error
    assert "webhook's host" in delivery.error


def test_webhooks_api_keeps_the_secret_write_only(org: Any, client: APIClient) -> None:
    r = client.post(
        "/test_framework/v1/webhooks/",
        {"url": "https://hooks.example.com/x", "secret": SECRET, "events": ["result.completed"]},
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["has_secret"] is True and "secret" not in body and SECRET not in r.content.decode()
    hook = Webhook.objects.get()
    assert hook.secret == SECRET  # readable by us, encrypted at rest
    r = client.patch(f"/test_framework/v1/webhooks/{hook.pk}/", {"enabled": False}, format="json")
    assert r.status_code == 200 and Webhook.objects.get().secret == SECRET  # kept
    bad = client.post(
        "/test_framework/v1/webhooks/",
        {"url": "ftp://x", "events": ["result.finished"]},
        format="json",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"url", "events"}
    assert Webhook.objects.count() == 1


def launch(client: APIClient, org: Any) -> Any:
    from tests.factories import AgentFactory, ScenarioFactory

    agent = AgentFactory(organization=org)
    scenarios = ScenarioFactory.create_batch(2, agent=agent)
    r = client.post(
        "/test_framework/v1/scenarios-external/run_scenarios_agora/",
        {"agent_id": agent.pk, "scenarios": [s.pk for s in scenarios]},
        format="json",
    )
    assert r.status_code == 200, r.content
    return r.json()


def test_a_pre_trigger_holds_the_runs_until_the_receiver_says_go(
    org: Any,
    client: APIClient,
    monkeypatch: Any,
    inline: list[float],
    receiver_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: sent.append(run_id)
    )
    receiver = receiver_factory([200])
    Webhook.objects.create(
        organization=org, url=receiver.url, secret=SECRET, events=["result.pre_trigger"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = launch(client, org)
    ((headers, body),) = receiver.got
    assert headers["X-CEKURA-IDEMPOTENCY-KEY"] == f"result_pre_trigger:{result['id']}"
    sent_body = json.loads(body)
    assert sent_body["event_type"] == "result.pre_trigger" and len(sent_body["data"]["runs"]) == 2
    assert sorted(sent) == sorted(r["id"] for r in result["runs"])  # then the runs went


def test_a_refused_pre_trigger_fails_the_launch_and_refunds_it(
    org: Any,
    client: APIClient,
    monkeypatch: Any,
    inline: list[float],
    receiver_factory: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: sent.append(run_id)
    )
    receiver = receiver_factory([503])
    Webhook.objects.create(
        organization=org, url=receiver.url, secret=SECRET, events=["result.pre_trigger"]
    )
    credits = org.credits
    with django_capture_on_commit_callbacks(execute=True):
        result = launch(client, org)
    assert len(receiver.got) == 3 and sent == []  # three tries, and no call
    runs = client.get("/test_framework/v1/runs/", {"result_id": result["id"]}).json()["results"]
    assert {r["status"] for r in runs} == {"failed"}
    assert runs[0]["error_message"] == (
        "the pre-trigger webhook did not accept the launch (the receiver answered HTTP 503); "
        "no call was placed"
    )
    org.refresh_from_db()
    assert org.credits == credits  # debited at launch, refunded with the failure


def test_a_pre_trigger_whose_messages_were_lost_fails_the_launch_in_time(
    org: Any, client: APIClient, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    monkeypatch.setattr("test_framework.dispatch.send_webhook", lambda *a, **k: None)  # lost
    Webhook.objects.create(
        organization=org, url="https://hooks.example.com/x", events=["result.pre_trigger"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = launch(client, org)
    assert services.pre_triggers_overdue(after_seconds=300) == []  # not yet
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(seconds=301))
    (ended,) = services.pre_triggers_overdue(after_seconds=300)
    runs = client.get("/test_framework/v1/runs/", {"result_id": result["id"]}).json()["results"]
    assert {r["status"] for r in runs} == {"failed"}
    assert "no answer within 300 s of the launch" in runs[0]["error_message"]

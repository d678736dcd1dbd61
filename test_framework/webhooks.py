"""Webhooks: telling an organization's own server about its results.

Events: `result.completed` (a result's last run ended; the hosted product's shape) and
`run.completed` (one run ended). Each delivery is a POST of JSON with:
- `X-CEKURA-SECRET`: the webhook's secret, as the hosted product sends it;
- `X-CEKURA-TIMESTAMP` and `X-CEKURA-SIGNATURE: v1=<hex>`, the HMAC-SHA256 of
  `<timestamp>.<body>` keyed by the secret, so a receiver can check the body without comparing
  secrets, and refuse old replays;
- `X-CEKURA-IDEMPOTENCY-KEY`: the same for every attempt and resend of one event.

A delivery is tried up to MAX_ATTEMPTS times, 2 s then 8 s apart, while the receiver answers
5xx, 408 or 429, times out, or cannot be reached; any other answer (a 4xx: the receiver will not
take it) ends it at once. The URL goes through the same address guard as session endpoints:
resolved, refused if not public (unless CEKURA_SESSION_ENDPOINT_ALLOW names it), and connected
to at the address that was checked. No secret is ever in a payload, a log line or an answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agora_runner.errors import SessionEndpointError
from agora_runner.netguard import check_destination, pinned

from . import dispatch
from .models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

RESULT_COMPLETED = "result.completed"
RESULT_PRE_TRIGGER = "result.pre_trigger"
RUN_COMPLETED = "run.completed"
EVENTS = (RESULT_COMPLETED, RESULT_PRE_TRIGGER, RUN_COMPLETED)
# A pre-trigger still pending this long after its launch (its messages lost) fails the launch.
PRE_TRIGGER_OVERDUE_SECONDS = 300
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (2.0, 8.0)  # before the second and the third attempt
TIMEOUT_SECONDS = 30.0
RETRIED_STATUSES = frozenset({408, 429})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` and the HMAC-SHA256 of `<timestamp>.<body>` keyed by the secret, in hex."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def emit(*, organization_id: int, event: str, key: str, subject_id: int) -> list[int]:
    """Record a delivery of `event` (about result or run `subject_id`) to each enabled webhook
    of the organization that wants it, once per webhook and key (an event emitted twice is
    delivered once), and send them once the transaction commits. The body is made at the first
    attempt (Build). Returns the new deliveries' ids."""
    hooks = [
        h
        for h in Webhook.objects.filter(organization_id=organization_id, enabled=True)
        if event in (h.events or [])
    ]
    if not hooks:
        return []
    created = []
    for hook in hooks:
        delivery, new = WebhookDelivery.objects.get_or_create(
            webhook=hook,
            idempotency_key=key,
            defaults={"organization_id": organization_id, "event": event, "subject_id": subject_id},
        )
        if new:
            created.append(delivery.pk)
    for pk in created:
        transaction.on_commit(partial(_send, pk))
    return created


def result_completed(*, organization_id: int, result_id: int) -> None:
    emit(
        organization_id=organization_id,
        event=RESULT_COMPLETED,
        key=f"result_completed:{result_id}",
        subject_id=result_id,
    )


def pre_trigger(*, organization_id: int, result_id: int) -> bool:
    """`result.pre_trigger` for a launch: True when some webhook wants it, and the launch's
    runs then wait for its answer (services.runs.pre_trigger_settled)."""
    return bool(
        emit(
            organization_id=organization_id,
            event=RESULT_PRE_TRIGGER,
            key=f"result_pre_trigger:{result_id}",
            subject_id=result_id,
        )
    )


def run_completed(*, organization_id: int, run_id: int) -> None:
    emit(
        organization_id=organization_id,
        event=RUN_COMPLETED,
        key=f"run_completed:{run_id}",
        subject_id=run_id,
    )


Build = Callable[[str, int], dict[str, Any]]


def _send(delivery_id: int, countdown: float = 0) -> None:
    try:
        dispatch.send_webhook(delivery_id, countdown=countdown)
    except Exception as exc:  # the broker is down: the delivery stays pending, resendable
        log.error("webhook delivery %s: not queued (%s)", delivery_id, exc.__class__.__name__)


def resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (same body, same idempotency key), with its attempts anew."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDelivery.State.PENDING, attempts=0, error="", status_code=None
    )
    _send(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def deliver(
    delivery_id: int, build: Build, settled: Callable[[WebhookDelivery], None] | None = None
) -> str:
    """One attempt at a delivery (the webhook task); schedules the next attempt if this one
    may be retried. `build(event, subject_id)` makes the body at the first attempt (it is
    kept, so every attempt and resend sends the same); `settled(delivery)` is called once it
    is delivered or has failed for good. Returns the delivery's state after."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != WebhookDelivery.State.PENDING:
        return delivery.state if delivery else "missing"
    if not delivery.payload:
        delivery.payload = build(delivery.event, delivery.subject_id)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(payload=delivery.payload)
    attempt = delivery.attempts + 1
    started = time.monotonic()
    status, error, retry = _post(delivery)
    fields: dict[str, Any] = {
        "attempts": attempt,
        "status_code": status,
        "error": error[:500],
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if status is not None and 200 <= status < 300:
        fields.update(state=WebhookDelivery.State.DELIVERED, delivered_at=timezone.now())
    elif not retry or attempt >= MAX_ATTEMPTS:
        fields["state"] = WebhookDelivery.State.FAILED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    state = fields.get("state", WebhookDelivery.State.PENDING)
    log.info(
        "webhook delivery %s (%s): attempt %s answered %s -> %s",
        delivery.pk,
        delivery.event,
        attempt,
        status if status is not None else error,
        state,
    )
    if state == WebhookDelivery.State.PENDING:
        _send(delivery.pk, countdown=BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])
    elif settled is not None:
        delivery.refresh_from_db()
        settled(delivery)
    return str(state)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, bool]:
    """(status code or None, what went wrong, whether to try again)."""
    hook = delivery.webhook
    try:
        ip = check_destination(hook.url, tuple(settings.SESSION_ENDPOINT_ALLOW), what="webhook")
    except SessionEndpointError as exc:
        return None, exc.message, not exc.permanent
    url, headers, extensions = pinned(hook.url, ip)  # to the address that was checked
    # Keys sorted: the body is the same bytes at every attempt and resend (the database does
    # not keep an object's key order).
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    timestamp = str(int(time.time()))
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": "cekura-agora-webhooks",
            "X-CEKURA-SECRET": hook.secret,
            "X-CEKURA-TIMESTAMP": timestamp,
            "X-CEKURA-SIGNATURE": signature(hook.secret, timestamp, body),
            "X-CEKURA-IDEMPOTENCY-KEY": delivery.idempotency_key,
            "X-CEKURA-EVENT": delivery.event,
        }
    )
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
            request = http.build_request(
                "POST", url, content=body, headers=headers, extensions=extensions
            )
            response = http.send(request)
    except httpx.TimeoutException:
        return None, f"no answer within {TIMEOUT_SECONDS:g} s", True
    except httpx.HTTPError as exc:
        return None, f"could not connect ({exc.__class__.__name__})", True
    code = response.status_code
    if 200 <= code < 300:
        return code, "", False
    retry = code >= 500 or code in RETRIED_STATUSES
    return code, f"the receiver answered HTTP {code}", retry

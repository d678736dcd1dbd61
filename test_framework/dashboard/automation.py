"""Dashboard pages for what runs without a person: schedules and webhooks."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .. import schedules, services, webhooks
from ..api.serializers import CronJobSerializer, WebhookSerializer
from ..models import AIAgent, CronJob, Webhook, WebhookDelivery
from .views import org_of, org_required


def _errors(errors: Any) -> list[str]:
    """A serializer's errors as lines a person reads: "field: message"."""
    return [f"{field}: {' '.join(map(str, msgs))}" for field, msgs in dict(errors).items()]


@org_required
def schedules_page(request: HttpRequest) -> HttpResponse:
    org = org_of(request)
    problems: list[str] = []
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("scenario_ids") if i.isdigit()]
        data = {
            "name": request.POST.get("name", ""),
            "expression": request.POST.get("expression", ""),
            "timezone": request.POST.get("timezone", "UTC") or "UTC",
            "agent": request.POST.get("agent"),
            "scenarios": ids or "all",
            "frequency": request.POST.get("frequency") or 1,
            "allow_overlap": request.POST.get("allow_overlap") == "on",
        }
        form = CronJobSerializer(data=data, context={"request": request})
        if form.is_valid():
            job = form.save(organization=org)
            services.cron_job_schedule(job)
            messages.success(request, f"Schedule “{job.name}” created.")
            return redirect("dashboard:schedules")
        problems = _errors(form.errors)
    jobs = CronJob.objects.filter(organization=org).select_related("agent")
    rows = [(job, schedules.describe(job.expression, job.timezone)) for job in jobs]
    return render(
        request,
        "dashboard/schedules.html",
        {
            "nav": "schedules",
            "rows": rows,
            "agents": AIAgent.objects.filter(organization=org).prefetch_related("scenarios"),
            "problems": problems,
            "posted": request.POST,
        },
    )


@org_required
@require_POST
def schedule_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(CronJob, organization=org_of(request), pk=pk)
    job.enabled = not job.enabled
    job.save(update_fields=["enabled", "updated_at"])
    services.cron_job_schedule(job)
    messages.success(request, f"“{job.name}” {'resumed' if job.enabled else 'paused'}.")
    return redirect("dashboard:schedules")


@org_required
def schedule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(CronJob, organization=org_of(request), pk=pk)
    firings = list(job.firings.select_related("result")[:60])
    launched = [f for f in reversed(firings) if f.result is not None]
    # The pass-rate trend: one point per launched result, oldest on the left, 0-100 % up.
    step = 100 / max(len(launched) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{100 - (f.result.success_rate if f.result else 0):.1f}"
        for i, f in enumerate(launched)
    )
    return render(
        request,
        "dashboard/schedule.html",
        {
            "nav": "schedules",
            "job": job,
            "description": schedules.describe(job.expression, job.timezone),
            "firings": firings,
            "trend": points,
        },
    )


@org_required
def webhooks_page(request: HttpRequest) -> HttpResponse:
    org = org_of(request)
    problems: list[str] = []
    if request.method == "POST":
        data = {
            "url": request.POST.get("url", ""),
            "secret": request.POST.get("secret", ""),
            "events": request.POST.getlist("events"),
        }
        form = WebhookSerializer(data=data, context={"request": request})
        if form.is_valid():
            form.save(organization=org)
            messages.success(request, "Webhook added.")
            return redirect("dashboard:webhooks")
        problems = _errors(form.errors)
    return render(
        request,
        "dashboard/webhooks.html",
        {
            "nav": "webhooks",
            "hooks": Webhook.objects.filter(organization=org),
            "deliveries": WebhookDelivery.objects.filter(organization=org).select_related(
                "webhook"
            )[:50],
            "events": webhooks.EVENTS,
            "problems": problems,
        },
    )


@org_required
@require_POST
def webhook_resend(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery, organization=org_of(request), pk=pk)
    webhooks.resend(delivery)
    messages.success(request, f"Delivery {delivery.pk} sent again.")
    return redirect("dashboard:webhooks")

"""Managing what exists: re-run and re-score a result, export it, delete and duplicate agents
and scenarios. Every action is a POST that redirects (a refresh repeats nothing); deleting asks
first in the page (data-confirm) and is soft for what has history."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from cekura.errors import DomainError

from .. import explain, selectors, services
from ..api.serializers import ResultDetailSerializer
from ..models import AIAgent, Result, Run, Scenario
from .views import api_context, org_of, org_required, run_verdict


# --- results ------------------------------------------------------------------------------
@org_required
@require_POST
def result_rescore(request: HttpRequest, pk: int) -> HttpResponse:
    result = get_object_or_404(selectors.result_list(organization=org_of(request)), pk=pk)
    try:
        result = services.result_rescore_request(result=result)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if result.rescore_state == "failed":
            messages.error(request, f"Re-score: {result.rescore_error}")
        else:
            messages.info(
                request,
                f"Scoring {result.rescore_total} call(s) again in the background; this page "
                "follows its progress.",
            )
    return redirect("dashboard:result", pk=pk)


@org_required
@require_POST
def result_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    """The same scenarios, frequency, personalities and concurrency, as a new result."""
    org = org_of(request)
    result = get_object_or_404(selectors.result_list(organization=org), pk=pk)
    runs = list(result.runs.all())
    if any(r.scenario_id is None for r in runs):
        messages.error(
            request,
            "This result has runs of a spec file or of deleted scenarios: run the spec file again "
            "(run_scenarios_json), or launch its scenarios from the Scenarios page.",
        )
        return redirect("dashboard:result", pk=pk)
    scenario_ids = list(dict.fromkeys(r.scenario_id for r in runs if r.scenario_id))
    personality_ids = list(dict.fromkeys(r.personality_id for r in runs if r.personality_id))
    try:
        again = services.result_launch_selected(
            organization=org,
            agent_id=None,
            scenario_ids=scenario_ids,
            frequency=result.frequency,
            name=f"{result.name or 'Result'} (again)"[:200],
            concurrency_limit=result.concurrency_limit,
            personality_ids=personality_ids or None,
        )
    except DomainError as exc:
        messages.error(request, f"Could not run it again: {exc.message}")
        return redirect("dashboard:result", pk=pk)
    messages.success(request, f"Started {again.runs.count()} run(s) again.")
    return redirect("dashboard:result", pk=again.pk)


def _metric_cell(m: dict[str, Any]) -> Any:
    if m.get("eval_type") == "binary":
        return "" if m.get("passed") is None else ("pass" if m["passed"] else "fail")
    if m.get("eval_type") == "enum":
        return m.get("enum") or ""
    return "" if m.get("score") is None else m["score"]


@org_required
def result_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The result as JSON (what results/{id}/ answers) or CSV (a row per run: its scenario,
    status, verdict, duration, how it ended, why it did not succeed, and every metric)."""
    result = get_object_or_404(selectors.result_list(organization=org_of(request)), pk=pk)
    stem = f"result-{result.pk}"
    if fmt == "json":
        data = ResultDetailSerializer(result, context=api_context(request)).data
        response = HttpResponse(
            json.dumps(data, indent=2, default=str), content_type="application/json"
        )
    else:
        runs = list(result.runs.select_related("scenario").order_by("id"))
        names: list[str] = []
        for run in runs:
            for m in (run.evaluation or {}).get("metrics", []):
                if m.get("name") not in names:
                    names.append(str(m.get("name")))
        out = io.StringIO()
        writer = csv.writer(out)
        head = ["run", "scenario", "status", "success", "duration_s", "ended_reason", "why"]
        writer.writerow(head + ["expected_outcome"] + names)
        for run in runs:
            reason = explain.why(run)
            metrics = {m.get("name"): m for m in (run.evaluation or {}).get("metrics", [])}
            outcome = (run.expected_outcome or {}).get("passed")
            writer.writerow(
                [
                    run.pk,
                    run.scenario_name,
                    run.status,
                    run_verdict(run),
                    "" if run.duration_seconds is None else round(run.duration_seconds, 2),
                    run.ended_reason,
                    reason.headline if reason else "",
                    "" if outcome is None else ("pass" if outcome else "fail"),
                ]
                + [_metric_cell(metrics[n]) if n in metrics else "" for n in names]
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response


# --- agents and scenarios -----------------------------------------------------------------
@org_required
@require_POST
def agent_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """An agent with results is archived (hidden; its results and scenarios kept, its
    schedules paused); one without is deleted with its scenarios."""
    agent = get_object_or_404(selectors.agent_list(organization=org_of(request)), pk=pk)
    name = agent.agent_name
    if Result.objects.filter(agent=agent).exists() or Run.objects.filter(agent=agent).exists():
        with transaction.atomic():
            AIAgent.objects.filter(pk=agent.pk).update(archived_at=timezone.now())
            agent.cron_jobs.update(enabled=False)
        messages.success(request, f"Agent “{name}” deleted; its results are kept.")
    else:
        agent.delete()
        messages.success(request, f"Agent “{name}” deleted.")
    return redirect("dashboard:agents")


@org_required
@require_POST
def agent_duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    """A copy of the agent's settings (its secret too, still encrypted) and of its metrics'
    attachments; not its scenarios or results."""
    agent = get_object_or_404(selectors.agent_list(organization=org_of(request)), pk=pk)
    copy = _duplicate(agent, agent_name=f"{agent.agent_name} (copy)"[:200])
    messages.success(request, f"Copied as “{copy.agent_name}”.")
    return redirect("dashboard:agent", pk=copy.pk)


def _duplicate(row: Any, **changes: Any) -> Any:
    """A new row with `row`'s fields (an agent's secret too, encrypted again when saved),
    `changes` applied, not archived, and the same metrics attached."""
    metrics = list(row.metrics.all())
    copy = type(row).objects.get(pk=row.pk)
    copy.pk = None
    copy.archived_at = None
    for name, value in changes.items():
        setattr(copy, name, value)
    copy.save()
    copy.metrics.set(metrics)
    return copy


@org_required
@require_POST
def scenario_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """A scenario with runs is archived (hidden; its runs keep their name); one without is
    deleted."""
    scenario = get_object_or_404(selectors.scenario_list(organization=org_of(request)), pk=pk)
    name = scenario.name
    if scenario.runs.exists():
        Scenario.objects.filter(pk=scenario.pk).update(archived_at=timezone.now())
    else:
        scenario.delete()
    messages.success(request, f"Scenario “{name}” deleted.")
    return redirect("dashboard:scenarios")


@org_required
@require_POST
def scenario_duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    scenario = get_object_or_404(selectors.scenario_list(organization=org_of(request)), pk=pk)
    copy = _duplicate(scenario, name=f"{scenario.name} (copy)"[:80])
    messages.success(request, f"Copied as “{copy.name}”.")
    return redirect("dashboard:scenario", pk=copy.pk)

"""Dashboard views: each shapes a page's input into a service or API-serializer call and renders
the answer. Every query is scoped to the signed-in user's organization."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cekura.accounts.models import ApiKey, Organization
from cekura.accounts.services import api_key_create, api_key_revoke, organization_of
from cekura.errors import DomainError
from cekura.ranged import stored_file_response
from common.vocabulary import DEFAULT_SECRET_HEADER
from evaluators.overall import turn_latencies

from .. import selectors, services
from ..api.serializers import (
    AIAgentSerializer,
    ResultDetailSerializer,
    RunSerializer,
    ScenarioSerializer,
)
from ..choices import TERMINAL, Status
from ..models import AIAgent, Personality, Result, Run
from . import media
from .forms import AgoraAgentForm, RunForm, ScenarioForm

PROVIDERS = [
    (
        "agora",
        "Agora",
        "Join the agent's Agora RTC channel with details minted by its session endpoint.",
        True,
    ),
    ("vapi", "Vapi", "Not offered by this server.", False),
    ("retell", "Retell", "Not offered by this server.", False),
    ("livekit", "LiveKit", "Not offered by this server.", False),
    ("pipecat", "Pipecat", "Not offered by this server.", False),
    ("phone", "Phone number", "Not offered by this server.", False),
]


def org_of(request: HttpRequest) -> Organization:
    """The organization org_required found for this request's user."""
    return cast(Organization, request.organization)  # type: ignore[attr-defined]


def org_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Signed in and a member of an organization; `org_of(request)` is set (and the
    user carries it, as the API's principal does, for the shared serializers)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        org = organization_of(request.user)
        if org is None:
            return render(request, "dashboard/no_organization.html", status=403)
        request.organization = org  # type: ignore[attr-defined]
        request.user.organization = org  # type: ignore[union-attr]
        return view(request, *args, **kwargs)

    return wrapper


def _form_errors(form: Any, errors: dict[str, Any], mapping: dict[str, str] | None = None) -> None:
    """API serializer errors onto the form's fields (nested ones flattened)."""
    mapping = mapping or {}
    for key, value in errors.items():
        if isinstance(value, dict):
            _form_errors(form, value, mapping)
            continue
        field = mapping.get(key, key)
        for message in value if isinstance(value, list) else [value]:
            form.add_error(field if field in form.fields else None, str(message))


def _api_context(request: HttpRequest) -> dict[str, Any]:
    return {"request": request}


@org_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:results")


# --- agents ------------------------------------------------------------------------------
@org_required
def agents(request: HttpRequest) -> HttpResponse:
    rows = selectors.agent_list(organization=org_of(request)).annotate(
        n_scenarios=Count("scenarios")
    )
    return render(request, "dashboard/agents.html", {"agents": rows})


@org_required
def agent_trends(request: HttpRequest, pk: int) -> HttpResponse:
    """An agent's last results as a chart (pass rate with its interval, latency p50/p90), each
    one a click from its comparison with the one before, and the cases flaky across them."""
    org = org_of(request)
    agent = get_object_or_404(selectors.agent_list(organization=org), pk=pk)
    trend = selectors.agent_trend(organization=org, agent=agent)
    points = trend["results"]
    for before, after in zip(points, points[1:], strict=False):
        after["previous"] = before["result"]
    return render(
        request,
        "dashboard/agent_trends.html",
        {
            "nav": "agents",
            "agent": agent,
            "points": points,
            "newest_first": points[::-1],
            "lines": media.trend_lines(points) if points else None,
            "flaky": trend["flaky_cases"],
        },
    )


@org_required
def power_estimate(request: HttpRequest) -> JsonResponse:
    """The launch dialog's repetitions hint: the power of `frequency` runs per case to detect
    a drop in pass rate from `from` % to `to` %, and the runs 80 % power needs."""
    from evaluators import power

    try:
        n = int(request.GET.get("frequency", "1"))
        rates = float(request.GET.get("from", "90")) / 100, float(request.GET.get("to", "70")) / 100
    except ValueError:
        return JsonResponse({"error": "frequency, from and to must be numbers."}, status=400)
    if not (1 <= n <= power.MAX_RUNS and all(0 <= r <= 1 for r in rates)) or rates[0] == rates[1]:
        return JsonResponse(
            {"error": f"frequency 1–{power.MAX_RUNS}; from and to 0–100 %, not equal."}, status=400
        )
    return JsonResponse(
        {
            "frequency": n,
            "power": round(power.power(n, *rates), 3),
            "runs_needed": power.runs_needed(*rates),
            "target_power": power.POWER,
            "max_runs": power.MAX_RUNS,
        }
    )


@org_required
def agent_new(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/agent_providers.html", {"providers": PROVIDERS})


def _agent_initial(agent: AIAgent) -> dict[str, Any]:
    data = agent.agora_data or {}
    return {
        "agent_name": agent.agent_name,
        "description": agent.description,
        "session_endpoint_url": data.get("session_endpoint_url", ""),
        "client_id": data.get("client_id", ""),
        "request_method": data.get("request_method", "POST"),
        "auth_header_name": data.get("auth_header_name", DEFAULT_SECRET_HEADER),
        "join_uid": data.get("join_uid", 1),
        "agent_gives_first_message": agent.agent_gives_first_message,
    }


@org_required
def agent_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    agent = (
        get_object_or_404(selectors.agent_list(organization=org_of(request)), pk=pk) if pk else None
    )
    if request.method == "POST":
        form = AgoraAgentForm(request.POST)
        if form.is_valid():
            serializer = AIAgentSerializer(
                agent,
                data=form.api_data(),
                partial=agent is not None,
                context=_api_context(request),
            )
            if serializer.is_valid():
                saved = serializer.save(**({} if agent else {"organization": org_of(request)}))
                messages.success(request, f"Agent “{saved.agent_name}” saved.")
                return redirect("dashboard:agent", pk=saved.pk)
            _form_errors(form, serializer.errors, {"agora_api_key": "secret"})
    else:
        form = AgoraAgentForm(initial=_agent_initial(agent) if agent else None)
    return render(request, "dashboard/agent_form.html", {"form": form, "agent": agent})


@org_required
@require_POST
def agent_test(request: HttpRequest, pk: int) -> HttpResponse:
    agent = get_object_or_404(selectors.agent_list(organization=org_of(request)), pk=pk)
    try:
        report = services.agent_test_endpoint(agent=agent)
        findings, ok = report.findings, report.ok
    except DomainError as exc:
        findings, ok = [], False
        messages.error(request, exc.message)
    form = AgoraAgentForm(initial=_agent_initial(agent))
    return render(
        request,
        "dashboard/agent_form.html",
        {"form": form, "agent": agent, "findings": findings, "check_ok": ok},
    )


# --- API keys ----------------------------------------------------------------------------
@org_required
def keys(request: HttpRequest) -> HttpResponse:
    new_key = None
    if request.method == "POST":
        try:
            _, new_key = api_key_create(
                organization=org_of(request), name=request.POST.get("name", "").strip()[:200]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
    rows = ApiKey.objects.filter(organization=org_of(request)).order_by("-created_at")
    return render(request, "dashboard/keys.html", {"keys": rows, "new_key": new_key})


@org_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        key = api_key_revoke(organization=org_of(request), key_id=pk)
    except DomainError:
        raise Http404("No such API key.") from None
    messages.success(request, f"Key {key.prefix}… revoked.")
    return redirect("dashboard:keys")


# --- scenarios ---------------------------------------------------------------------------
@org_required
def scenarios(request: HttpRequest) -> HttpResponse:
    org = org_of(request)
    rows = selectors.scenario_list(organization=org).select_related("agent")
    personalities = Personality.objects.filter(organization=org).order_by("id")
    return render(
        request,
        "dashboard/scenarios.html",
        {
            "scenarios": rows,
            "run_form": RunForm(personalities=[(p.pk, p.name) for p in personalities]),
            "personalities": personalities,
            "credits": org.credits,
        },
    )


@org_required
def scenario_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    org = org_of(request)
    scenario = get_object_or_404(selectors.scenario_list(organization=org), pk=pk) if pk else None
    agent_choices = [(a.pk, a.agent_name) for a in selectors.agent_list(organization=org)]
    if not agent_choices:
        messages.info(request, "Add an agent first: scenarios belong to an agent.")
        return redirect("dashboard:agent_new")
    if request.method == "POST":
        form = ScenarioForm(request.POST, agents=agent_choices)
        if form.is_valid():
            serializer = ScenarioSerializer(
                scenario,
                data=form.api_data(),
                partial=scenario is not None,
                context=_api_context(request),
            )
            if serializer.is_valid():
                saved = serializer.save(**({} if scenario else {"organization": org}))
                messages.success(request, f"Scenario “{saved.name}” saved.")
                return redirect("dashboard:scenarios")
            _form_errors(
                form, serializer.errors, {"conditional_actions": "actions", "conditions": "actions"}
            )
    else:
        initial = None
        if scenario:
            initial = {
                "name": scenario.name,
                "agent": scenario.agent_id,
                "scenario_type": scenario.scenario_type,
                "first_message": scenario.first_message,
                "instructions": scenario.instructions,
                "actions": ScenarioForm.actions_text(scenario.conditional_actions),
                "expected_outcome_prompt": scenario.expected_outcome_prompt,
                "max_duration": scenario.max_duration,
            }
        form = ScenarioForm(initial=initial, agents=agent_choices)
    return render(request, "dashboard/scenario_form.html", {"form": form, "scenario": scenario})


@org_required
@require_POST
def scenarios_run(request: HttpRequest) -> HttpResponse:
    org = org_of(request)
    personalities = [(p.pk, p.name) for p in Personality.objects.filter(organization=org)]
    form = RunForm(request.POST, personalities=personalities)
    if not form.is_valid():
        for errors in form.errors.values():
            for e in errors:
                messages.error(request, str(e))
        return redirect("dashboard:scenarios")
    d = form.cleaned_data
    try:
        result = services.result_launch_selected(
            organization=org,
            agent_id=None,
            scenario_ids=d["scenario_ids"],
            frequency=d["frequency"],
            name=d.get("name") or "",
            concurrency_limit=d.get("concurrency_limit"),
            personality_ids=[int(p) for p in d.get("personality_ids") or []] or None,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:scenarios")
    messages.success(request, f"Started {result.runs.count()} run(s).")
    return redirect("dashboard:result", pk=result.pk)


# --- results and runs --------------------------------------------------------------------
def _progress(results: Any) -> list[dict[str, Any]]:
    rows = selectors.results_with_progress(results)
    return [
        {
            "id": r.pk,
            "status": r.status,
            "total": r.total,  # type: ignore[attr-defined]  # annotated by the selector
            "done": r.terminal,  # type: ignore[attr-defined]
            "running": r.in_flight,  # type: ignore[attr-defined]
            "success_rate": r.success_rate,
            "terminal": r.status in TERMINAL,
        }
        for r in rows
    ]


@org_required
def results(request: HttpRequest) -> HttpResponse:
    rows = (
        selectors.result_list(organization=org_of(request))
        .select_related("agent")
        .order_by("-id")[:100]
    )
    progress = {p["id"]: p for p in _progress(Result.objects.filter(pk__in=[r.pk for r in rows]))}
    return render(
        request, "dashboard/results.html", {"results": [(r, progress[r.pk]) for r in rows]}
    )


@org_required
def results_progress(request: HttpRequest) -> JsonResponse:
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()][:200]
    qs = selectors.result_list(organization=org_of(request)).filter(pk__in=ids)
    return JsonResponse({"results": _progress(qs)})


@org_required
def result_detail(request: HttpRequest, pk: int) -> HttpResponse:
    result = get_object_or_404(selectors.result_list(organization=org_of(request)), pk=pk)
    data = ResultDetailSerializer(result, context=_api_context(request)).data
    runs = result.runs.select_related("scenario").order_by("id")
    latencies = turn_latencies(
        [{"evaluation": r.evaluation} for r in runs if r.status == Status.COMPLETED]
    )
    return render(
        request,
        "dashboard/result.html",
        {
            "result": result,
            "data": data,
            "runs": runs,
            "overall": data["overall_evaluation"],
            "failed_reasons": data["failed_reasons"],
            "histogram": media.histogram(latencies),
            "progress": _progress(Result.objects.filter(pk=result.pk))[0],
        },
    )


@org_required
def results_compare(request: HttpRequest) -> HttpResponse:
    """Two results side by side, case by case and measure by measure (selectors.
    result_comparison): pick them, then read which rows got better or worse."""
    results = selectors.result_list(organization=org_of(request))
    picked = {}
    for key in ("baseline", "candidate"):
        raw = request.GET.get(key, "")
        picked[key] = results.filter(pk=int(raw)).first() if raw.isdigit() else None
    report = None
    if picked["baseline"] and picked["candidate"]:
        report = selectors.result_comparison(
            baseline=picked["baseline"], candidate=picked["candidate"]
        )
    return render(
        request,
        "dashboard/compare.html",
        {
            "choices": results.only("id", "name", "created_at")[:200],
            "picked": picked,
            "report": report,
        },
    )


@org_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(
        selectors.run_list(organization=org_of(request)).select_related(
            "scenario", "agent", "result"
        ),
        pk=pk,
    )
    data = RunSerializer(run, context=_api_context(request)).data
    return render(
        request,
        "dashboard/run.html",
        {
            "run": run,
            "data": data,
            "metrics": (run.evaluation or {}).get("metrics", []),
            "ended_reason": run.ended_reason,
            "transcript": run.transcript_object or [],
            "terminal": run.status in TERMINAL,
        },
    )


def _recording(request: HttpRequest, pk: int) -> Run:
    run = get_object_or_404(selectors.run_list(organization=org_of(request)), pk=pk)
    if not run.recording:
        raise Http404("This run has no recording.")
    return run


@org_required
def run_recording(request: HttpRequest, pk: int) -> HttpResponseBase:
    run = _recording(request, pk)
    # Byte ranges: the player seeks anywhere at once, without downloading the whole file.
    return stored_file_response(request, run.recording, "audio/wav", f"run-{run.pk}.wav")


@org_required
def run_waveform(request: HttpRequest, pk: int) -> JsonResponse:
    from common.wav import read_wav

    run = _recording(request, pk)
    with run.recording.open("rb") as fh:
        rate, stereo = read_wav(fh.read())
    return JsonResponse(
        {
            "sample_rate": rate,
            "seconds": round(len(stereo) / rate, 3),
            "caller": media.peaks(stereo[:, 0]),
            "agent": media.peaks(stereo[:, 1]),
        }
    )


@org_required
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(selectors.run_list(organization=org_of(request)), pk=pk)
    return JsonResponse({"id": run.pk, "status": run.status, "terminal": run.status in TERMINAL})


@org_required
@require_POST
def result_end(request: HttpRequest, pk: int) -> HttpResponse:
    result = get_object_or_404(selectors.result_list(organization=org_of(request)), pk=pk)
    services.result_cancel(result=result)
    messages.info(request, "Runs not started were cancelled; calls under way are hanging up.")
    return redirect("dashboard:result", pk=pk)


@org_required
@require_POST
def run_end(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(selectors.run_list(organization=org_of(request)), pk=pk)
    services.run_request_cancel(run=run)
    messages.info(request, "The run is ending.")
    return redirect("dashboard:run", pk=pk)

"""Dashboard views: each shapes a page's input into a service or API-serializer call and renders
the answer. Every query is scoped to the signed-in user's organization."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.http import require_POST

from cekura import fields
from cekura.accounts.models import ApiKey, Organization
from cekura.accounts.services import (
    api_key_create,
    api_key_revoke,
    credits_add,
    organization_of,
)
from cekura.errorpages import error_page
from cekura.errors import DomainError, InsufficientBalance
from cekura.ranged import stored_file_response
from common.vocabulary import DEFAULT_SECRET_HEADER
from evaluators.overall import turn_latencies

from .. import explain, selectors, services
from ..api.serializers import (
    AIAgentSerializer,
    ResultDetailSerializer,
    RunSerializer,
    ScenarioSerializer,
)
from ..choices import TERMINAL, ScenarioType, Status
from ..models import AIAgent, Metric, Personality, Result, Run, Scenario
from . import listing, media
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


def form_errors(form: Any, errors: dict[str, Any], mapping: dict[str, str] | None = None) -> None:
    """API serializer errors onto the form's fields (nested ones flattened)."""
    mapping = mapping or {}
    for key, value in errors.items():
        if isinstance(value, dict):
            form_errors(form, value, mapping)
            continue
        field = mapping.get(key, key)
        for message in value if isinstance(value, list) else [value]:
            form.add_error(field if field in form.fields else None, str(message))


def api_context(request: HttpRequest) -> dict[str, Any]:
    return {"request": request}


@org_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:results")


# --- agents ------------------------------------------------------------------------------
@org_required
def agents(request: HttpRequest) -> HttpResponse:
    rows = (
        selectors.agent_list(organization=org_of(request))
        .filter(archived_at__isnull=True)
        .annotate(n_scenarios=Count("scenarios", filter=Q(scenarios__archived_at__isnull=True)))
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
                context=api_context(request),
            )
            if serializer.is_valid():
                saved = serializer.save(**({} if agent else {"organization": org_of(request)}))
                messages.success(request, f"Agent “{saved.agent_name}” saved.")
                return redirect("dashboard:agent", pk=saved.pk)
            form_errors(form, serializer.errors, {"agora_api_key": "secret"})
    else:
        form = AgoraAgentForm(initial=_agent_initial(agent) if agent else None)
    return render(request, "dashboard/agent_form.html", {"form": form, "agent": agent})


@org_required
@require_POST
def agent_test(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Test endpoint with the values on screen, saved or not: they are checked as Save would
    check them, then the endpoint is called once as a run would call it. Nothing is saved; a
    secret left empty means the stored one."""
    org = org_of(request)
    agent = get_object_or_404(selectors.agent_list(organization=org), pk=pk) if pk else None
    form = AgoraAgentForm(request.POST)
    context: dict[str, Any] = {"form": form, "agent": agent, "tested": True}
    if not form.is_valid():
        return render(request, "dashboard/agent_form.html", context, status=400)
    serializer = AIAgentSerializer(
        agent, data=form.api_data(), partial=agent is not None, context=api_context(request)
    )
    if not serializer.is_valid():
        form_errors(form, serializer.errors, {"agora_api_key": "secret"})
        return render(request, "dashboard/agent_form.html", context, status=400)
    data = serializer.validated_data
    trial = AIAgent(
        organization=org,
        agent_name=data.get("agent_name", ""),
        agora_data=data.get("agora_data") or (agent.agora_data if agent else {}),
    )
    trial.agora_api_key = data.get("agora_api_key") or (agent.agora_api_key if agent else "")
    try:
        report = services.agent_test_endpoint(agent=trial)
        context.update(findings=report.findings, check_ok=report.ok)
    except DomainError as exc:
        context.update(findings=[], check_ok=False, check_error=exc.message)
    return render(request, "dashboard/agent_form.html", context)


# --- API keys ----------------------------------------------------------------------------
@org_required
def keys(request: HttpRequest) -> HttpResponse:
    """API keys. Creating one redirects (a refresh never makes a second key); the new key is
    shown once on the page it redirects to, carried there encrypted in the session."""
    if request.method == "POST":
        try:
            _, new_key = api_key_create(
                organization=org_of(request), name=request.POST.get("name", "").strip()[:200]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            request.session[NEW_KEY] = fields.encrypt(new_key)
        return redirect("dashboard:keys")
    shown = request.session.pop(NEW_KEY, None)
    rows = ApiKey.objects.filter(organization=org_of(request)).order_by("-created_at")
    response = render(
        request,
        "dashboard/keys.html",
        {"keys": rows, "new_key": fields.decrypt(shown) if shown else None},
    )
    response["Cache-Control"] = "no-store"  # the page with the key is not kept by the browser
    return response


NEW_KEY = "dashboard.new_api_key"


@org_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        key = api_key_revoke(organization=org_of(request), key_id=pk)
    except DomainError:
        raise Http404("No such API key.") from None
    messages.success(request, f"Key {key.prefix}… revoked.")
    return redirect("dashboard:keys")


# --- credits -----------------------------------------------------------------------------
@org_required
def credits_page(request: HttpRequest) -> HttpResponse:
    """The balance, what a run costs, what was spent lately, and how credits are added: by
    staff here, or by an operator with `manage.py add_credits`."""
    org = org_of(request)
    if request.method == "POST":
        if not request.user.is_staff:
            return error_page(request, 403)
        raw = request.POST.get("amount", "").strip()
        try:
            balance = credits_add(organization=org, amount=int(raw))
        except ValueError:
            messages.error(request, "Amount: a whole number of credits.")
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Added {int(raw)} credits: the balance is {balance}.")
        return redirect("dashboard:credits")
    since = timezone.now() - timedelta(days=30)
    recent = Run.objects.filter(organization=org, timestamp__gte=since)
    return render(
        request,
        "dashboard/credits.html",
        {
            "org": org,
            "per_run": settings.CREDITS_PER_RUN,
            "runs_30_days": recent.count(),
            "refunded_30_days": recent.filter(credit_refunded=True).count(),
        },
    )


# --- scenarios ---------------------------------------------------------------------------
@org_required
def scenarios(request: HttpRequest) -> HttpResponse:
    return _scenarios_page(request)


def _scenarios_page(
    request: HttpRequest, *, launch: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    """The scenarios list and its Configure Run dialog; `launch`: a launch that was refused,
    shown again in the open dialog with its selection and the reason."""
    org = org_of(request)
    found = listing.scenarios(
        request,
        selectors.scenario_list(organization=org)
        .filter(archived_at__isnull=True, agent__archived_at__isnull=True)
        .select_related("agent"),
    )
    personalities = Personality.objects.filter(organization=org).order_by("id")
    return render(
        request,
        "dashboard/scenarios.html",
        {
            "scenarios": found.rows,
            "listing": found,
            "agents": selectors.agent_list(organization=org).order_by("agent_name"),
            "types": ScenarioType.choices,
            "personalities": personalities,
            "credits": org.credits,
            "credits_per_run": settings.CREDITS_PER_RUN,
            "launch": launch,
        },
        status=status,
    )


@org_required
def scenario_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    org = org_of(request)
    scenario = get_object_or_404(selectors.scenario_list(organization=org), pk=pk) if pk else None
    agent_choices = [
        (a.pk, a.agent_name)
        for a in selectors.agent_list(organization=org).filter(archived_at__isnull=True)
    ]
    if not agent_choices:
        messages.info(request, "Add an agent first: scenarios belong to an agent.")
        return redirect("dashboard:agent_new")
    if request.method == "POST":
        form = ScenarioForm(request.POST, agents=agent_choices)
        steps = list(
            zip(request.POST.getlist("step_when"), request.POST.getlist("step_say"), strict=False)
        )
        if form.is_valid():
            serializer = ScenarioSerializer(
                scenario,
                data=form.api_data(),
                partial=scenario is not None,
                context=api_context(request),
            )
            if serializer.is_valid():
                saved = serializer.save(**({} if scenario else {"organization": org}))
                messages.success(request, f"Scenario “{saved.name}” saved.")
                if not _checks_something(saved):
                    messages.warning(request, NOTHING_CHECKED.format(name=saved.name))
                return redirect("dashboard:scenarios")
            form_errors(form, serializer.errors, SCENARIO_FIELDS)
    else:
        initial = None
        steps = []
        if scenario:
            initial = {
                "name": scenario.name,
                "agent": scenario.agent_id,
                "scenario_type": scenario.scenario_type,
                "first_message": scenario.first_message,
                "instructions": scenario.instructions,
                "expected_outcome_prompt": scenario.expected_outcome_prompt,
                "max_duration": scenario.max_duration,
            }
            steps = ScenarioForm.steps_of(scenario.conditional_actions)
        form = ScenarioForm(initial=initial, agents=agent_choices)
    return render(
        request,
        "dashboard/scenario_form.html",
        {
            "form": form,
            "scenario": scenario,
            "steps": steps + [("", "")],  # one empty row to type into
            "checks_nothing": scenario is not None and not _checks_something(scenario),
        },
    )


NOTHING_CHECKED = (
    "“{name}” checks nothing yet: it has no expected outcome and no metric of its own, so its "
    "runs will be reported as not judged. Add an expected outcome, or attach a metric."
)
# The API's field names, as the form's own (its errors land on the field a person sees).
SCENARIO_FIELDS = {"conditional_actions": "__all__", "conditions": "__all__"}


def _checks_something(scenario: Scenario) -> bool:
    """evaluators.catalogue.checks_something, for a stored scenario: an expected outcome, or a
    metric attached to it or to its agent."""
    if scenario.expected_outcome_prompt.strip() or scenario.metrics.exists():
        return True
    return Metric.objects.filter(agents=scenario.agent_id).exists()


@org_required
@require_POST
def scenarios_run(request: HttpRequest) -> HttpResponse:
    org = org_of(request)
    personalities = [(p.pk, p.name) for p in Personality.objects.filter(organization=org)]
    form = RunForm(request.POST, personalities=personalities)
    refused = {
        "scenario_ids": request.POST.get("scenario_ids", ""),
        "frequency": request.POST.get("frequency", "1"),
        "concurrency_limit": request.POST.get("concurrency_limit", ""),
        "name": request.POST.get("name", ""),
        "personality_ids": request.POST.getlist("personality_ids"),
    }
    if not form.is_valid():
        refused["errors"] = [str(e) for errors in form.errors.values() for e in errors]
        return _scenarios_page(request, launch=refused, status=400)
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
    except InsufficientBalance:
        runs = len(d["scenario_ids"]) * d["frequency"] * max(1, len(d.get("personality_ids") or []))
        needed = runs * settings.CREDITS_PER_RUN
        org.refresh_from_db(fields=["credits"])
        refused["errors"] = [
            f"Not enough credits: {runs} run{pluralize(runs)} need{'' if runs != 1 else 's'} "
            f"{needed} credit{pluralize(needed)}, you have {org.credits}. Lower the frequency "
            "or the selection, or add credits (Credits page)."
        ]
        return _scenarios_page(request, launch=refused, status=400)
    except DomainError as exc:
        refused["errors"] = [exc.message]
        return _scenarios_page(request, launch=refused, status=400)
    messages.success(request, f"Started {result.runs.count()} run(s).")
    return redirect("dashboard:result", pk=result.pk)


# --- results and runs --------------------------------------------------------------------
def _progress(results: Any) -> list[dict[str, Any]]:
    rows = selectors.results_with_progress(results)
    return [
        {
            "id": r.pk,
            "status": r.status,
            "label": _label(r),
            "total": r.total,  # type: ignore[attr-defined]  # annotated by the selector
            "done": r.terminal,  # type: ignore[attr-defined]
            "running": r.in_flight,  # type: ignore[attr-defined]
            "success_rate": r.success_rate,
            "terminal": r.status in TERMINAL,
            "rescore": r.rescore_state,
            "rescore_done": r.rescore_done,
            "rescore_total": r.rescore_total,
        }
        for r in rows
    ]


def _label(result: Any) -> str:
    """How a result's status reads to a person. The API's status says whether the result
    ended and whether our side failed it (README: a result's status); a person also wants to
    see at a glance that no call of it happened: an ended result with runs none of which
    completed reads "failed"."""
    ended = result.status in TERMINAL
    if ended and result.status == Status.COMPLETED and result.total and not result.completed:
        return "failed"
    return str(result.status)


def run_verdict(run: Run) -> str:
    if run.success is not None:
        return "pass" if run.success else "fail"
    return "not judged" if run.status == Status.COMPLETED else "—"


def _run_row(run: Run) -> dict[str, Any]:
    """A run's row on the result page, as the page draws it and as it updates live."""
    reason = explain.why(run)
    return {
        "id": run.pk,
        "status": run.status,
        "verdict": run_verdict(run),
        "duration": f"{run.duration_seconds:.1f} s" if run.duration_seconds is not None else "—",
        "ended": run.ended_reason or "—",
        "why": reason.headline if reason else "",
        "terminal": run.status in TERMINAL,
    }


@org_required
def results(request: HttpRequest) -> HttpResponse:
    org = org_of(request)
    found = listing.results(
        request, selectors.result_list(organization=org).select_related("agent")
    )
    rows = found.rows
    progress = {p["id"]: p for p in _progress(Result.objects.filter(pk__in=[r.pk for r in rows]))}
    return render(
        request,
        "dashboard/results.html",
        {
            "results": [(r, progress[r.pk]) for r in rows],
            "listing": found,
            "agents": selectors.agent_list(organization=org).order_by("agent_name"),
            "statuses": listing.STATUSES,
        },
    )


@org_required
def runs_page(request: HttpRequest) -> HttpResponse:
    org = org_of(request)
    found = listing.runs(request, selectors.run_list(organization=org))
    return render(
        request,
        "dashboard/runs.html",
        {
            "runs": [(r, _run_row(r)) for r in found.rows],
            "listing": found,
            "agents": selectors.agent_list(organization=org).order_by("agent_name"),
            "statuses": [s for s in listing.STATUSES if s != Status.IN_PROGRESS],
        },
    )


@org_required
def results_progress(request: HttpRequest) -> JsonResponse:
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()][:200]
    qs = selectors.result_list(organization=org_of(request)).filter(pk__in=ids)
    return JsonResponse({"results": _progress(qs)})


@org_required
def result_detail(request: HttpRequest, pk: int) -> HttpResponse:
    result = get_object_or_404(selectors.result_list(organization=org_of(request)), pk=pk)
    data = ResultDetailSerializer(result, context=api_context(request)).data
    runs = list(result.runs.select_related("scenario").order_by("id"))
    latencies = turn_latencies(
        [{"evaluation": r.evaluation} for r in runs if r.status == Status.COMPLETED]
    )
    return render(
        request,
        "dashboard/result.html",
        {
            "result": result,
            "data": data,
            "runs": [(r, _run_row(r)) for r in runs],
            "why_groups": explain.group(runs),
            "overall": data["overall_evaluation"],
            "overall_rows": _overall_rows(data["overall_evaluation"]),
            "latency_reading": _latency_reading(data["overall_evaluation"]),
            "failed_reasons": data["failed_reasons"],
            "histogram": media.histogram(latencies),
            "progress": _progress(Result.objects.filter(pk=result.pk))[0],
        },
    )


def _overall_rows(overall: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """Each metric's summary over the runs with its unit (from the metric's declaration)."""
    from evaluators.registry import catalogue

    units = {m.name: "" if m.unit == "count" else m.unit for m in catalogue()}
    units.setdefault("Latency", "ms")
    return [(name, m, units.get(name, "")) for name, m in overall.items()]


def _latency_reading(overall: dict[str, Any]) -> str:
    """The response latency in one sentence a person reads at a glance."""
    latency = overall.get("Latency") or {}
    pct = latency.get("percentiles") or {}
    if pct.get("p50") is None:
        return ""
    turns = latency.get("turns") or 0
    return (
        f"Half of the agent's answers began within {pct['p50']:.0f} ms of the caller finishing, "
        f"and 9 in 10 within {pct['p90']:.0f} ms (over {turns} turn{'s' if turns != 1 else ''})."
    )


@org_required
def result_runs(request: HttpRequest, pk: int) -> JsonResponse:
    """The result page's run rows, for its live update."""
    result = get_object_or_404(selectors.result_list(organization=org_of(request)), pk=pk)
    return JsonResponse({"runs": [_run_row(r) for r in result.runs.order_by("id")]})


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
    data = RunSerializer(run, context=api_context(request)).data
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
    response = stored_file_response(request, run.recording, "audio/wav", f"run-{run.pk}.wav")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.wav"'
    return response


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

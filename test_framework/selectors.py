"""Queries. Selectors read; they never change a row."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet, Sum

from cekura.accounts.models import Organization

from .choices import IN_FLIGHT, TERMINAL, Status
from .models import AIAgent, Personality, Result, Run, Scenario, ShareLink
from .specs import case_personality, case_scenario

if TYPE_CHECKING:
    from evaluators.compare import RunSample


def agent_list(*, organization: Organization) -> QuerySet[AIAgent]:
    return AIAgent.objects.filter(organization=organization)


def scenario_list(*, organization: Organization) -> QuerySet[Scenario]:
    return Scenario.objects.filter(organization=organization).prefetch_related("metrics")


def result_list(*, organization: Organization) -> QuerySet[Result]:
    return Result.objects.filter(organization=organization).prefetch_related("runs__scenario")


def run_list(*, organization: Organization) -> QuerySet[Run]:
    return Run.objects.filter(organization=organization).select_related(
        "scenario", "agent", "result"
    )


def _progress_counts(prefix: str = "") -> dict[str, Any]:
    """How a result's runs stand, as aggregates over its runs (`prefix` "runs__" from the
    result's side). One definition for the API, the dashboard and the result's status."""
    on = f"{prefix}id" if not prefix else prefix.removesuffix("__")
    return {
        "total": Count(on),
        "completed": Count(on, filter=Q(**{f"{prefix}status": Status.COMPLETED})),
        "success": Count(on, filter=Q(**{f"{prefix}success": True})),
        "terminal": Count(on, filter=Q(**{f"{prefix}status__in": list(TERMINAL)})),
        "cancelled": Count(on, filter=Q(**{f"{prefix}status": Status.CANCELLED})),
        "in_flight": Count(on, filter=Q(**{f"{prefix}status__in": list(IN_FLIGHT)})),
        "infra_failed": Count(
            on,
            filter=Q(
                **{
                    f"{prefix}status__in": [Status.FAILED, Status.TIMEOUT],
                    f"{prefix}infrastructure": True,
                }
            ),
        ),
    }


def result_progress(result: Result) -> dict[str, Any]:
    """One result's counts: total, completed, success, terminal, cancelled, in_flight,
    infra_failed, failed (every ended run that did not succeed: failed, timed out, cancelled,
    or completed with a failing evaluation, so CI can compare it with zero) and duration."""
    agg = result.runs.aggregate(**_progress_counts(), duration=Sum("duration_seconds"))
    agg["failed"] = agg["terminal"] - agg["success"]
    return agg


def results_with_progress(results: QuerySet[Result]) -> QuerySet[Result]:
    """Results, each annotated with the counts of result_progress (in one query)."""
    return results.annotate(**_progress_counts("runs__"))


def scenarios_for_launch(
    *,
    organization: Organization,
    agent: AIAgent | None,
    ids: list[int] | None,
    first_n: int | None,
    of_agent_only: bool = True,
) -> list[Scenario]:
    """Scenarios to run, in the order asked; [] when any id is unknown to this organization
    (or, with `of_agent_only`, is not one of the agent's)."""
    qs = scenario_list(organization=organization)
    if ids is not None:
        if agent is not None and of_agent_only:
            qs = qs.filter(agent=agent)
        found = {s.pk: s for s in qs.filter(pk__in=ids)}
        if len(found) != len(set(ids)):
            return []
        return [found[i] for i in ids]
    assert agent is not None
    qs = qs.filter(agent=agent).order_by("id")
    return list(qs[:first_n] if first_n is not None else qs)


def personalities_for_launch(
    *, organization: Organization, ids: list[int]
) -> list[Personality] | None:
    """The personalities named, in order; None when any id is unknown to this organization."""
    found = {p.pk: p for p in Personality.objects.filter(organization=organization, pk__in=ids)}
    if len(found) != len(set(ids)):
        return None
    return [found[i] for i in ids]


def run_scenario(run: Run) -> Scenario | None:
    """What the run calls with: its stored scenario, or (a spec file's case) its case's snapshot
    as an unsaved Scenario; None when the scenario was deleted."""
    if run.case:
        return case_scenario(run.case, organization_id=run.organization_id, agent_id=run.agent_id)
    return run.scenario


def run_personality(run: Run) -> Personality | None:
    """The run's personality: its case's (a spec file's snapshot), else its own, else the
    scenario's (by id, within the organization)."""
    if run.case:
        return case_personality(run.case)
    if run.personality_id:
        return run.personality
    scenario = run.scenario
    if scenario is not None and scenario.personality:
        return Personality.objects.filter(
            organization_id=run.organization_id, pk=scenario.personality
        ).first()
    return None


def share_link_open(*, token: str) -> ShareLink | None:
    """The share link behind a token, while it works (not revoked, not expired); else None."""
    from django.utils import timezone

    if not token or len(token) > 200:
        return None
    link = ShareLink.objects.filter(
        digest=share_token_digest(token), revoked_at__isnull=True
    ).first()
    if link is None or (link.expire_at is not None and link.expire_at <= timezone.now()):
        return None
    return link


def share_link_runs(*, link: ShareLink) -> QuerySet[Run]:
    return Run.objects.filter(
        result__in=link.results.all(), organization=link.organization_id
    ).select_related("scenario", "result", "agent", "personality")


def share_token_digest(token: str) -> str:
    # 256 random bits: a plain digest is enough (as for API keys).
    return hashlib.sha256(token.encode()).hexdigest()


def run_samples(runs: QuerySet[Run]) -> list[RunSample]:
    """What a comparison reads of finished runs: a case is the scenario (or the spec case's
    key) with its personality, so the same case matches across results."""
    from evaluators.compare import RunSample

    out = []
    for run in runs.filter(status=Status.COMPLETED).select_related("scenario", "personality"):
        case = run.scenario_key or f"scenario:{run.scenario_id}"
        name = run.scenario_name
        if run.personality_id:
            case += f"/personality:{run.personality_id}"
            name += f" ({run.personality.name})" if run.personality else ""
        out.append(
            RunSample(case, name, run.success, list((run.evaluation or {}).get("metrics", [])))
        )
    return out


def result_comparison(*, baseline: Result, candidate: Result) -> dict[str, Any]:
    """Two results of one organization compared case by case (evaluators.compare), each side's
    finished runs read by run_samples."""
    from evaluators.compare import compare

    def samples(result: Result) -> list[RunSample]:
        return run_samples(result.runs.all())

    sides = {
        "baseline": (baseline, samples(baseline)),
        "candidate": (candidate, samples(candidate)),
    }
    report = compare(sides["baseline"][1], sides["candidate"][1])
    return {
        **{
            key: {
                "id": r.pk,
                "name": r.name,
                "agent": r.agent_id,
                "status": r.status,
                "runs_compared": len(runs),
            }
            for key, (r, runs) in sides.items()
        },
        **report,
    }


TREND_RESULTS = 20  # how many of an agent's latest results its trend shows


def agent_trend(
    *, organization: Organization, agent: AIAgent, last: int = TREND_RESULTS
) -> dict[str, Any]:
    """An agent's last `last` ended results, oldest first: each one's pass rate (with its Wilson
    interval) and its turns' latency p50/p90; and the cases that both passed and failed across
    them (flaky over time, not only within one result)."""
    from evaluators.compare import flaky_cases, wilson
    from evaluators.metrics.latency import percentile
    from evaluators.overall import turn_latencies

    results = list(
        Result.objects.filter(organization=organization, agent=agent, status__in=TERMINAL).order_by(
            "-created_at", "-id"
        )[:last]
    )[::-1]
    points, pooled = [], []
    for result in results:
        samples = run_samples(result.runs.all())
        pooled += samples
        judged = [s.success for s in samples if s.success is not None]
        latencies = turn_latencies([{"evaluation": {"metrics": s.metrics}} for s in samples])
        p50, p90 = (
            (percentile(latencies, 50), percentile(latencies, 90)) if latencies else (None, None)
        )
        points.append(
            {
                "result": result.pk,
                "name": result.name,
                "created_at": result.created_at,
                "status": result.status,
                "runs": len(samples),
                "passed": sum(judged),
                "pass_rate": sum(judged) / len(judged) if judged else None,
                "interval": wilson(sum(judged), len(judged)),
                "latency_p50_ms": p50,
                "latency_p90_ms": p90,
            }
        )
    return {
        "agent": agent.pk,
        "results": points,
        "flaky_cases": flaky_cases(pooled, f"last {len(results)} results"),
    }

"""A result's view over its runs: each metric summarised across runs, and why runs failed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .metrics.latency import NAME as LATENCY
from .metrics.latency import percentile

PERCENTILES = (50, 90, 95, 99)


def overall_evaluation(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """`runs`: each {"evaluation": {"metrics": [...]}, "expected_outcome": {...}} of a completed
    run.

    Per metric name: binary → pass rate (%) over the runs where it was judged; numeric and
    continuous_qualitative → mean, min, max; enum → counts per value. Latency adds
    percentiles over every turn of every run (not a mean of medians). Metrics never judged
    (None) show `judged: 0`.
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        expected = run.get("expected_outcome") or {}
        if expected:
            by_name.setdefault("Expected Outcome", []).append(
                {
                    "eval_type": "numeric",
                    "score": expected.get("score"),
                    "passed": expected.get("passed"),
                }
            )
        for m in (run.get("evaluation") or {}).get("metrics", []):
            by_name.setdefault(m.get("name", ""), []).append(m)
    out: dict[str, Any] = {}
    for name, items in by_name.items():
        eval_type = items[0].get("eval_type", "numeric")
        summary: dict[str, Any] = {"eval_type": eval_type, "runs": len(items)}
        if eval_type == "binary":
            judged = [m["passed"] for m in items if m.get("passed") is not None]
            summary["judged"] = len(judged)
            summary["passed"] = sum(judged)
            summary["pass_rate"] = round(100.0 * sum(judged) / len(judged), 1) if judged else None
        elif eval_type == "enum":
            counts = Counter(m["enum"] for m in items if m.get("enum") is not None)
            summary["judged"] = sum(counts.values())
            summary["counts"] = dict(sorted(counts.items()))
        else:
            scores = [float(m["score"]) for m in items if m.get("score") is not None]
            summary["judged"] = len(scores)
            if scores:
                summary.update(
                    mean=round(sum(scores) / len(scores), 2),
                    min=round(min(scores), 2),
                    max=round(max(scores), 2),
                )
            passes = [m["passed"] for m in items if m.get("passed") is not None]
            if name == "Expected Outcome" and passes:
                summary["pass_rate"] = round(100.0 * sum(passes) / len(passes), 1)
        if name == LATENCY:
            turns = _turn_latencies(items)
            summary["turns"] = len(turns)
            if turns:
                summary["percentiles"] = {
                    f"p{q}": round(percentile(turns, q), 1) for q in PERCENTILES
                }
        out[name] = summary
    return out


def _turn_latencies(latency_metrics: list[dict[str, Any]]) -> list[float]:
    return [
        float(t["latency_ms"])
        for m in latency_metrics
        for t in (m.get("extra") or {}).get("turns", [])
        if t.get("latency_ms") is not None
    ]


def turn_latencies(runs: list[dict[str, Any]]) -> list[float]:
    """Every turn's latency (ms) over the runs, pooled: what the percentiles above are taken
    from, for a distribution plot."""
    return _turn_latencies(
        [
            m
            for run in runs
            for m in (run.get("evaluation") or {}).get("metrics", [])
            if m.get("name") == LATENCY
        ]
    )


def failed_reasons(runs: list[dict[str, Any]]) -> dict[str, int]:
    """How many unsuccessful runs each reason accounts for. A run that ended badly counts its
    ended_reason; a completed run that failed counts each failed binary metric (and a failed
    expected outcome); a run can count under several reasons."""
    reasons: Counter[str] = Counter()
    for run in runs:
        if run.get("success"):
            continue
        names = []
        if run.get("status") == "completed":
            if (run.get("expected_outcome") or {}).get("passed") is False:
                names.append("Expected Outcome")
            names += [
                m["name"]
                for m in (run.get("evaluation") or {}).get("metrics", [])
                if m.get("eval_type") == "binary" and m.get("passed") is False
            ]
        if not names:
            names = [str(run.get("ended_reason") or run.get("status") or "unknown")]
        reasons.update(names)
    return dict(reasons.most_common())

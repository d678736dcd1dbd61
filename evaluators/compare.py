"""Did a change make the agent better or worse? Two results compared case by case and metric by
metric, with the statistics a reader can check: every test and interval comes from scipy.

Each row compares one measure of one case (a scenario, or a spec case's key) between the
baseline's runs and the candidate's:
- pass rates (the run's success, and each binary metric): the two proportions with Wilson 95 %
  intervals, and Fisher's exact test (two-sided) of the difference;
- numbers (latency per turn, the other numeric metrics per run): the two medians, a bootstrap
  95 % interval of the difference of medians, and the Mann-Whitney U test (two-sided).
The p-values of all rows are adjusted together (Benjamini-Hochberg), and a row is `better` or
`worse` only when its adjusted p-value is under the level; otherwise `no clear change`. A
measure with no better side (talk ratio, words per minute) reads `higher` or `lower`. Cases that
both passed and failed within one result are listed as flaky, with their pass rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

LEVEL = 0.05
CORRECTION = "benjamini-hochberg"
BOOTSTRAP_RESAMPLES = 2000
SUCCESS = "Success"  # the run's own verdict, as a pass rate

# Which way is better, per numeric metric: +1 higher, -1 lower, 0 neither.
DIRECTION: dict[str, int] = {
    "Latency": -1,
    "Stop Time After User Interruption": -1,
    "AI Interrupting User": -1,
    "User Interrupting AI": 0,
    "Unnecessary Repetition Count": -1,
    "Expected Outcome": +1,
    "Transcription Accuracy": +1,
    "CSAT": +1,
    "Talk Ratio": 0,
    "Words Per Minute": 0,
}


@dataclass(frozen=True)
class RunSample:
    """What a comparison reads of one finished run."""

    case: str  # the scenario's id or the spec case's key: what identifies a case across results
    case_name: str
    success: bool | None
    metrics: list[dict[str, Any]] = field(default_factory=list)  # evaluation.metrics


@dataclass
class Row:
    case: str
    case_name: str
    measure: str
    kind: str  # "rate" | "numeric"
    baseline: dict[str, Any]
    candidate: dict[str, Any]
    difference: float | None
    interval: tuple[float, float] | None  # 95 % interval of the difference
    test: str
    p_value: float | None
    p_adjusted: float | None = None
    verdict: str = "no clear change"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["interval"] = list(self.interval) if self.interval else None
        return out


def wilson(passed: int, n: int) -> tuple[float, float] | None:
    """The Wilson 95 % interval of a proportion (None when there are no trials)."""
    if n == 0:
        return None
    ci = stats.binomtest(passed, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _rate_row(case: str, name: str, measure: str, a: list[bool], b: list[bool]) -> Row:
    ka, kb = sum(a), sum(b)
    na, nb = len(a), len(b)
    p = None
    if na and nb:
        p = float(stats.fisher_exact([[ka, na - ka], [kb, nb - kb]]).pvalue)
    ra = ka / na if na else None
    rb = kb / nb if nb else None

    def side(k: int, n: int, r: float | None) -> dict[str, Any]:
        return {"runs": n, "passed": k, "rate": r, "interval": wilson(k, n)}

    return Row(
        case,
        name,
        measure,
        "rate",
        side(ka, na, ra),
        side(kb, nb, rb),
        (rb - ra) if ra is not None and rb is not None else None,
        None,
        "fisher exact, two-sided",
        p,
    )


def _median_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    if len(a) < 2 or len(b) < 2:
        return None
    res = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.median(y, axis=axis) - np.median(x, axis=axis),
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=0.95,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(0),  # the same data, the same interval
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _numeric_row(case: str, name: str, measure: str, a: list[float], b: list[float]) -> Row:
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    p = None
    if len(xa) and len(xb):
        p = float(stats.mannwhitneyu(xa, xb, alternative="two-sided").pvalue)
        if np.isnan(p):  # every value the same on both sides: nothing to tell them apart
            p = 1.0

    def side(x: np.ndarray) -> dict[str, Any]:
        return {"values": len(x), "median": float(np.median(x)) if len(x) else None}

    ma, mb = side(xa)["median"], side(xb)["median"]
    return Row(
        case,
        name,
        measure,
        "numeric",
        side(xa),
        side(xb),
        (mb - ma) if ma is not None and mb is not None else None,
        _median_difference(xa, xb),
        "mann-whitney U, two-sided",
        p,
    )


def _measures(run: RunSample) -> tuple[dict[str, bool], dict[str, list[float]]]:
    """A run's pass/fail measures and its numeric ones (latency: one value per turn)."""
    rates: dict[str, bool] = {}
    numbers: dict[str, list[float]] = {}
    if run.success is not None:
        rates[SUCCESS] = bool(run.success)
    for m in run.metrics:
        name = str(m.get("name"))
        if m.get("eval_type") == "binary" and m.get("passed") is not None:
            rates[name] = bool(m["passed"])
        elif name == "Latency":
            turns = (m.get("extra") or {}).get("turns") or []
            values = [
                float(t["latency_ms"])
                for t in turns
                if t.get("measurable", True) and t.get("latency_ms") is not None
            ]
            if values:
                numbers[name] = values
        elif m.get("eval_type") == "numeric" and isinstance(m.get("score"), int | float):
            numbers[name] = [float(m["score"])]
    return rates, numbers


def _gather(
    runs: Iterable[RunSample],
) -> tuple[dict[str, str], dict[tuple[str, str], list[bool]], dict[tuple[str, str], list[float]]]:
    names: dict[str, str] = {}
    rates: dict[tuple[str, str], list[bool]] = {}
    numbers: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        names.setdefault(run.case, run.case_name)
        r, n = _measures(run)
        for measure, passed in r.items():
            rates.setdefault((run.case, measure), []).append(passed)
        for measure, values in n.items():
            numbers.setdefault((run.case, measure), []).extend(values)
    return names, rates, numbers


def _verdict(row: Row, level: float) -> str:
    if row.p_adjusted is None or row.difference is None or row.p_adjusted >= level:
        return "no clear change"
    if row.difference == 0:
        return "no clear change"
    direction = +1 if row.kind == "rate" else DIRECTION.get(row.measure, 0)
    if direction == 0:
        return "higher" if row.difference > 0 else "lower"
    return "better" if row.difference * direction > 0 else "worse"


def compare(
    baseline: Sequence[RunSample], candidate: Sequence[RunSample], level: float = LEVEL
) -> dict[str, Any]:
    """Every case and measure the two results share, compared; see the module's docstring."""
    names_a, rates_a, numbers_a = _gather(baseline)
    names_b, rates_b, numbers_b = _gather(candidate)
    names = {**names_a, **names_b}
    rows = [
        _rate_row(case, names[case], measure, rates_a[(case, measure)], rates_b[(case, measure)])
        for case, measure in sorted(rates_a.keys() & rates_b.keys(), key=_order)
    ]
    rows += [
        _numeric_row(
            case, names[case], measure, numbers_a[(case, measure)], numbers_b[(case, measure)]
        )
        for case, measure in sorted(numbers_a.keys() & numbers_b.keys(), key=_order)
    ]
    tested = [r for r in rows if r.p_value is not None]
    if tested:
        adjusted = stats.false_discovery_control([r.p_value for r in tested], method="bh")
        for row, p in zip(tested, adjusted, strict=True):
            row.p_adjusted = float(p)
    for row in rows:
        row.verdict = _verdict(row, level)
    only = sorted(names_a.keys() ^ names_b.keys())
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    return {
        "level": level,
        "correction": CORRECTION,
        "rows": [r.as_dict() for r in rows],
        "summary": counts,
        "cases_in_one_result_only": [{"case": c, "name": names[c]} for c in only],
        "flaky_cases": flaky(rates_a, names, "baseline") + flaky(rates_b, names, "candidate"),
    }


def flaky_cases(runs: Iterable[RunSample], side: str) -> list[dict[str, Any]]:
    """The cases among `runs` (one result's, or several results' of one agent) that both
    passed and failed, with their pass rate and its Wilson interval."""
    names, rates, _ = _gather(runs)
    return flaky(rates, names, side)


def flaky(
    rates: dict[tuple[str, str], list[bool]], names: dict[str, str], side: str
) -> list[dict[str, Any]]:
    """Cases that both passed and failed: their outcome is not settled by the agent alone (a
    race, an LLM's whim, a noisy turn), and one run of them says little."""
    out = []
    for (case, measure), outcomes in sorted(rates.items(), key=lambda kv: _order(kv[0])):
        passed = sum(outcomes)
        if measure == SUCCESS and 0 < passed < len(outcomes):
            out.append(
                {
                    "result": side,
                    "case": case,
                    "name": names[case],
                    "passed": passed,
                    "runs": len(outcomes),
                    "rate": passed / len(outcomes),
                    "interval": wilson(passed, len(outcomes)),
                }
            )
    return out


def _order(key: tuple[str, str]) -> tuple[str, int, str]:
    case, measure = key
    return case, 0 if measure == SUCCESS else 1, measure

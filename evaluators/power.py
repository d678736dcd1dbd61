"""How many runs of a case tell a drop in its pass rate from chance?

The comparison (evaluators.compare) judges a case's pass rate with Fisher's exact test
(two-sided, at LEVEL). This module answers, before a launch, the question that decides a
launch's `frequency`: with n runs of a case in the baseline and n in the candidate, how likely
is that test to call a real drop from `p_from` to `p_to` (its power), and what is the smallest
n that reaches a given power (80 % by convention)?

The power is exact, not a normal approximation: every pair of outcomes (k of n passed in the
baseline, j of n in the candidate) is weighted by its binomial probability, and counted when
the test would reject on it. Fisher's test conditions on the total passed, so for each total the
two-sided p-value of every table is the sum of the hypergeometric probabilities no larger than
its own (scipy's rule, with scipy's relative tolerance), which is what `scipy.stats.fisher_exact`
computes table by table; tests/evaluators/test_power.py checks the two agree on every table.

A normal approximation (Cohen's h) under-states the runs an exact test needs at the small
counts a voice test suite runs (10-40 per case); and an exact test's power is not monotone in n
(it saw-tooths), so `runs_needed` answers the smallest n that reaches the power, as the usual
tables do.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from scipy import special, stats

from evaluators.compare import LEVEL

POWER = 0.80
MAX_RUNS = 200  # the most runs per case searched: beyond it, "more than 200"
# Drops a plan states by default: a good case turning flaky, a flaky one turning bad.
DEFAULT_DROPS: tuple[tuple[float, float], ...] = ((0.9, 0.7), (0.95, 0.8), (0.8, 0.5))
_TOLERANCE = 1 + 1e-7  # scipy.stats.fisher_exact's relative tolerance for ties


@lru_cache(maxsize=512)
def _rejections(n: int, level: float) -> np.ndarray:
    """A (n+1) x (n+1) boolean table: True where Fisher's test on k of n against j of n
    passed rejects at `level` (index [k, j])."""
    k = np.arange(n + 1)
    log_choose = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    totals = k[:, None] + k[None, :]
    log_all = special.gammaln(2 * n + 1) - special.gammaln(totals + 1)
    log_all -= special.gammaln(2 * n - totals + 1)
    # P(table | its total passed): hypergeometric, on the whole grid at once.
    pmf = np.exp(log_choose[:, None] + log_choose[None, :] - log_all)
    reject = np.zeros((n + 1, n + 1), dtype=bool)
    for total in range(2 * n + 1):
        rows = np.arange(max(0, total - n), min(n, total) + 1)
        q = pmf[rows, total - rows]
        # Two-sided p of each table: the mass of the tables at most as likely as it.
        p = (q[None, :] <= q[:, None] * _TOLERANCE) @ q
        reject[rows, total - rows] = np.minimum(p, 1.0) < level
    return reject


def power(n: int, p_from: float, p_to: float, *, level: float = LEVEL) -> float:
    """The chance that n runs in each result show a change from `p_from` to `p_to` as
    significant (Fisher's exact test, two-sided, at `level`, no correction across cases)."""
    _check_rate(p_from, "p_from")
    _check_rate(p_to, "p_to")
    if n < 1:
        raise ValueError("n must be at least 1")
    outcomes = np.arange(n + 1)
    a = stats.binom.pmf(outcomes, n, p_from)
    b = stats.binom.pmf(outcomes, n, p_to)
    return float(np.clip((np.outer(a, b) * _rejections(n, level)).sum(), 0.0, 1.0))


@lru_cache(maxsize=256)
def runs_needed(
    p_from: float,
    p_to: float,
    *,
    target: float = POWER,
    level: float = LEVEL,
    max_runs: int = MAX_RUNS,
) -> int | None:
    """The fewest runs per case in each result that reach `target` power, or None when even
    `max_runs` do not (or the rates are equal: no number of runs tells them apart)."""
    if p_from == p_to:
        return None
    for n in range(1, max_runs + 1):
        if power(n, p_from, p_to, level=level) >= target:
            return n
    return None


def plan_power(
    frequencies: list[int],
    *,
    drops: Iterable[tuple[float, float]] | None = None,
    level: float = LEVEL,
) -> dict[str, object]:
    """What a launch plan says about its repetitions: for each drop (the defaults unless
    given), the runs per case it needs at 80 % power, and the power each planned frequency
    gives."""
    distinct = sorted(set(frequencies))
    return {
        "test": "fisher exact, two-sided",
        "level": level,
        "target_power": POWER,
        "note": (
            "Runs per case needed in both the baseline and the candidate result for "
            "results/compare to call the drop; per case, before any correction across cases."
        ),
        "drops": [
            {
                "from": p_from,
                "to": p_to,
                "runs_per_case": runs_needed(p_from, p_to, level=level),
                "power_at_frequency": {
                    str(f): round(power(f, p_from, p_to, level=level), 3) for f in distinct
                },
            }
            for p_from, p_to in (drops or DEFAULT_DROPS)
        ],
    }


def _check_rate(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a pass rate between 0 and 1")

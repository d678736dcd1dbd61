"""The power of the comparison's pass-rate test, checked against scipy's own Fisher test
table by table (an independent path: scipy.stats.fisher_exact on every outcome)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluators import power as P


def brute_power(n: int, p_from: float, p_to: float, level: float = 0.05) -> float:
    """Power by enumeration, asking scipy's fisher_exact about every pair of outcomes."""
    total = 0.0
    for k in range(n + 1):
        for j in range(n + 1):
            if stats.fisher_exact([[k, n - k], [j, n - j]]).pvalue < level:
                total += stats.binom.pmf(k, n, p_from) * stats.binom.pmf(j, n, p_to)
    return total


@pytest.mark.parametrize("n", [1, 2, 3, 7, 12, 20])
def test_rejection_table_matches_scipy_fisher_exact(n: int) -> None:
    table = P._rejections(n, 0.05)
    for k in range(n + 1):
        for j in range(n + 1):
            p = stats.fisher_exact([[k, n - k], [j, n - j]]).pvalue
            assert table[k, j] == (p < 0.05), (n, k, j, p)


@pytest.mark.parametrize(
    ("n", "p_from", "p_to"), [(5, 0.9, 0.7), (10, 0.9, 0.7), (15, 0.8, 0.5), (10, 1.0, 0.6)]
)
def test_power_equals_enumeration_with_scipy(n: int, p_from: float, p_to: float) -> None:
    assert P.power(n, p_from, p_to) == pytest.approx(brute_power(n, p_from, p_to), abs=1e-12)


@pytest.mark.parametrize("rate", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("n", [5, 20, 40])
def test_no_change_is_called_at_most_at_the_level(n: int, rate: float) -> None:
    # Fisher's exact test is conservative: with no real change it rejects at most 5 % of the time.
    assert 0.0 <= P.power(n, rate, rate) <= 0.05


def test_power_grows_with_the_drop_and_is_symmetric() -> None:
    powers = [P.power(20, 0.9, to) for to in (0.85, 0.7, 0.5, 0.2)]
    assert powers == sorted(powers) and powers[-1] > 0.99
    # A rise is as detectable as the same drop seen the other way round.
    assert P.power(20, 0.7, 0.9) == pytest.approx(P.power(20, 0.9, 0.7))


def test_runs_needed_is_the_fewest_that_reach_80_percent() -> None:
    n = P.runs_needed(0.9, 0.7)
    assert n is not None
    # The fewest: power (itself checked against scipy's test on every outcome above) reaches
    # 80 % at n and at no smaller count.
    assert all(P.power(m, 0.9, 0.7) < 0.8 for m in range(1, n))
    assert P.power(n, 0.9, 0.7) >= 0.8
    # More than the normal approximation (Cohen's h, two groups) asks for: an exact test at
    # these counts is conservative.
    h = 2 * np.arcsin(np.sqrt(0.9)) - 2 * np.arcsin(np.sqrt(0.7))
    normal = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    assert n > normal


def test_edges() -> None:
    assert P.runs_needed(0.8, 0.8) is None  # nothing to detect
    assert P.runs_needed(0.9, 0.88, max_runs=30) is None  # too small a drop for 30 runs
    # Always pass against always fail: n/n against 0/n has p = 0.33, 0.10, 0.029 for n = 2, 3, 4.
    assert P.runs_needed(1.0, 0.0) == 4
    with pytest.raises(ValueError, match="pass rate"):
        P.power(10, 1.2, 0.5)
    with pytest.raises(ValueError, match="n must"):
        P.power(0, 0.9, 0.5)


def test_plan_power_states_each_drop_and_each_frequency() -> None:
    plan = P.plan_power([3, 3, 10], drops=[(0.9, 0.5)])
    assert plan["test"] == "fisher exact, two-sided" and plan["target_power"] == 0.8
    (drop,) = plan["drops"]  # type: ignore[misc]
    assert drop["from"] == 0.9 and drop["to"] == 0.5
    assert drop["runs_per_case"] == P.runs_needed(0.9, 0.5)
    assert set(drop["power_at_frequency"]) == {"3", "10"}
    assert drop["power_at_frequency"]["10"] == round(P.power(10, 0.9, 0.5), 3)
    defaults = P.plan_power([1])
    assert [(d["from"], d["to"]) for d in defaults["drops"]] == list(P.DEFAULT_DROPS)  # type: ignore[union-attr, index]

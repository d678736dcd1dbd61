"""Comparing two results: the statistics checked against values worked out by hand (closed
forms and textbook tables), not against scipy itself; and the verdicts, edge cases included."""

from __future__ import annotations

import math
from typing import Any

import pytest

from evaluators.compare import RunSample, compare, wilson


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval, from its formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def fisher_by_hand(a: int, b: int, c: int, d: int) -> float:
    """Fisher's exact test, two-sided: the probability of every table with the same margins
    no more likely than the one seen (hypergeometric)."""
    row1, col1, n = a + b, a + c, a + b + c + d

    def prob(x: int) -> float:
        return math.comb(col1, x) * math.comb(n - col1, row1 - x) / math.comb(n, row1)

    seen = prob(a)
    lo, hi = max(0, row1 + col1 - n), min(row1, col1)
    return sum(prob(x) for x in range(lo, hi + 1) if prob(x) <= seen * (1 + 1e-7))


@pytest.mark.parametrize(("k", "n"), [(8, 10), (0, 10), (10, 10), (1, 3), (37, 50)])
def test_wilson_interval(k: int, n: int) -> None:
    assert wilson(k, n) == pytest.approx(wilson_by_hand(k, n), abs=1e-9)
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # Newcombe (1998), table I
    assert wilson(0, 0) is None


def runs(case: str, passed: list[bool], latencies: list[list[float]] | None = None) -> list[Any]:
    out = []
    for i, ok in enumerate(passed):
        metrics: list[dict[str, Any]] = [
            {"name": "Infrastructure Issues", "eval_type": "binary", "passed": True},
            {"name": "Talk Ratio", "eval_type": "numeric", "score": 0.5},
        ]
        if latencies:
            metrics.append(
                {
                    "name": "Latency",
                    "eval_type": "numeric",
                    "score": None,
                    "extra": {
                        "turns": [{"latency_ms": ms, "measurable": True} for ms in latencies[i]]
                        + [{"latency_ms": None, "measurable": False}]
                    },
                }
            )
        out.append(RunSample(case, f"Case {case}", ok, metrics))
    return out


def row(result: dict[str, Any], case: str, measure: str) -> dict[str, Any]:
    return next(r for r in result["rows"] if r["case"] == case and r["measure"] == measure)


@pytest.mark.parametrize(
    ("base", "cand"),
    [((10, 10), (0, 10)), ((8, 10), (3, 10)), ((5, 12), (9, 11)), ((10, 10), (10, 10))],
)
def test_pass_rates_use_fishers_exact_test(base: tuple[int, int], cand: tuple[int, int]) -> None:
    (ka, na), (kb, nb) = base, cand
    a = runs("1", [True] * ka + [False] * (na - ka))
    b = runs("1", [True] * kb + [False] * (nb - kb))
    r = row(compare(a, b), "1", "Success")
    assert r["p_value"] == pytest.approx(fisher_by_hand(ka, na - ka, kb, nb - kb), rel=1e-9)
    assert r["baseline"]["rate"] == ka / na and r["candidate"]["rate"] == kb / nb
    assert r["baseline"]["interval"] == pytest.approx(wilson_by_hand(ka, na))


def test_all_pass_against_all_fail_is_worse_and_the_reverse_better() -> None:
    worse = compare(runs("1", [True] * 10), runs("1", [False] * 10))
    r = row(worse, "1", "Success")
    assert r["p_value"] == pytest.approx(2 / math.comb(20, 10))  # 1.08e-05
    assert r["verdict"] == "worse" and r["difference"] == -1.0
    better = compare(runs("1", [False] * 10), runs("1", [True] * 10))
    assert row(better, "1", "Success")["verdict"] == "better"
    same = compare(runs("1", [True] * 10), runs("1", [True] * 10))
    assert row(same, "1", "Success")["verdict"] == "no clear change"
    assert row(same, "1", "Success")["p_value"] == 1.0


def test_a_small_difference_on_few_runs_is_no_clear_change() -> None:
    # 3/3 against 2/3: p = 1.0 by hand; three runs cannot tell these apart.
    r = row(compare(runs("1", [True] * 3), runs("1", [True, True, False])), "1", "Success")
    assert r["p_value"] == pytest.approx(1.0) and r["verdict"] == "no clear change"


def test_latency_per_turn_uses_medians_a_rank_test_and_a_bootstrap_interval() -> None:
    a = runs("1", [True] * 3, [[100, 200], [300], [250]])
    b = runs("1", [True] * 3, [[900, 1000], [1100], [950]])
    r = row(compare(a, b), "1", "Latency")
    assert r["baseline"] == {"values": 4, "median": 225.0}  # the unmeasurable turn is left out
    assert r["candidate"]["median"] == 975.0 and r["difference"] == 750.0
    # Exact Mann-Whitney: 4 against 4, complete separation: 2 / C(8, 4).
    assert r["p_value"] == pytest.approx(2 / math.comb(8, 4))
    low, high = r["interval"]
    assert low <= 750.0 <= high and low > 0  # every resample is slower
    # Latency is better lower: slower is worse, if the adjusted p-value allows a verdict.
    assert r["verdict"] in ("worse", "no clear change")
    many_a = runs("1", [True] * 10, [[100 + i, 120 + i] for i in range(10)])
    many_b = runs("1", [True] * 10, [[400 + i, 420 + i] for i in range(10)])
    assert row(compare(many_a, many_b), "1", "Latency")["verdict"] == "worse"
    assert row(compare(many_b, many_a), "1", "Latency")["verdict"] == "better"


def test_p_values_are_adjusted_across_rows_by_benjamini_hochberg() -> None:
    a = runs("1", [True] * 10) + runs("2", [True] * 6 + [False] * 4)
    b = runs("1", [False] * 10) + runs("2", [True] * 3 + [False] * 7)
    result = compare(a, b)
    tested = [r for r in result["rows"] if r["p_value"] is not None]
    ps = [r["p_value"] for r in tested]
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    expected = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):  # by hand: p * m / rank, made monotone from the top
        i = order[rank - 1]
        running = min(running, ps[i] * m / rank)
        expected[i] = running
    assert [r["p_adjusted"] for r in tested] == pytest.approx(expected)
    assert result["correction"] == "benjamini-hochberg" and result["level"] == 0.05


def test_measures_without_a_better_side_say_higher_or_lower_and_unshared_cases_are_listed() -> None:
    a = [
        RunSample("1", "One", True, [{"name": "Talk Ratio", "eval_type": "numeric", "score": s}])
        for s in (0.2, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28, 0.29)
    ]
    b = [
        RunSample("1", "One", True, [{"name": "Talk Ratio", "eval_type": "numeric", "score": s}])
        for s in (0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76, 0.77, 0.78, 0.79)
    ]
    b.append(RunSample("new", "Only in the candidate", True, []))
    result = compare(a, b)
    assert row(result, "1", "Talk Ratio")["verdict"] == "higher"
    assert result["cases_in_one_result_only"] == [{"case": "new", "name": "Only in the candidate"}]


def test_a_case_that_both_passed_and_failed_in_one_result_is_flagged_flaky() -> None:
    result = compare(runs("1", [True] * 7 + [False] * 3), runs("1", [True] * 10))
    assert result["flaky_cases"] == [
        {
            "result": "baseline",
            "case": "1",
            "name": "Case 1",
            "passed": 7,
            "runs": 10,
            "rate": 0.7,
            "interval": pytest.approx(wilson_by_hand(7, 10)),
        }
    ]

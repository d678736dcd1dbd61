"""Custom metrics: declarative rules (never user code) and the LLM judge with the user's prompt."""

from __future__ import annotations

import numpy as np
import pytest

from common.llm import LLMConfig
from evaluators import CallData
from evaluators.catalogue import call_success, score_call
from evaluators.custom import CustomMetric, evaluate, parse_rule
from evaluators.overall import failed_reasons, overall_evaluation
from tests.agora_runner.fake_llm import scripted_llm

TRANSCRIPT = [
    {
        "role": "Main Agent",
        "content": "Hello, Sunny Clinic. How can I help?",
        "time": "00:00",
        "start_time": 0.0,
        "end_time": 2.0,
    },
    {
        "role": "Testing Agent",
        "content": "I want a refund for my visit.",
        "time": "00:03",
        "start_time": 3.0,
        "end_time": 5.0,
    },
    {
        "role": "Main Agent",
        "content": "I can't issue a refund, but I can book you in. Refunds go through billing.",
        "time": "00:06",
        "start_time": 6.0,
        "end_time": 9.5,
    },
    {
        "role": "Testing Agent",
        "content": "Thanks, goodbye.",
        "time": "00:10",
        "start_time": 10.0,
        "end_time": 11.0,
    },
]


def call() -> CallData:
    silent = np.zeros(16000, np.int16)
    return CallData(16000, silent, silent, TRANSCRIPT, [], [])


def rule(eval_type: str = "binary", **rule: object) -> CustomMetric:
    return CustomMetric(
        7,
        "Mentions refund",
        eval_type,
        "custom_code",
        configuration={"rule": {"match": "keyword", "patterns": ["refund"], **rule}},
    )


def test_keyword_rule_counts_whole_words_for_the_chosen_speaker() -> None:
    m = evaluate(call(), rule())
    assert m.passed is True and m.extra["count"] == 1  # "Refunds" is not the word "refund"
    assert m.explanation[0].startswith("✅") and "00:06" in m.explanation[1]
    assert evaluate(call(), rule(speaker="both")).extra["count"] == 2
    assert evaluate(call(), rule(threshold=2)).passed is False
    absent = evaluate(call(), rule(expect="absent"))
    assert absent.passed is False and absent.explanation[0].startswith("❌")
    assert evaluate(call(), rule(patterns=["voucher"], expect="absent")).passed is True


def test_regex_rule_and_numeric_score() -> None:
    m = evaluate(
        call(),
        CustomMetric(
            8,
            "Refund words",
            "numeric",
            "custom_code",
            configuration={
                "rule": {"match": "regex", "patterns": [r"refunds?\b"], "speaker": "both"}
            },
        ),
    )
    assert m.eval_type == "numeric" and m.score == 3.0
    assert m.as_dict()["score"] == 3.0 and "passed" not in m.as_dict()
    case = CustomMetric(
        9,
        "Exact",
        "binary",
        "custom_code",
        configuration={"rule": {"match": "regex", "patterns": ["sunny"], "case_sensitive": True}},
    )
    assert evaluate(call(), case).passed is False


def test_regexes_run_in_linear_time() -> None:
    # A pattern that backtracks exponentially in Python's re returns at once on RE2.
    long = dict(TRANSCRIPT[0], content="a" * 50_000 + "!")
    c = CallData(16000, np.zeros(10, np.int16), np.zeros(10, np.int16), [long], [], [])
    m = evaluate(
        c,
        CustomMetric(
            1,
            "x",
            "binary",
            "custom_code",
            configuration={"rule": {"match": "regex", "patterns": ["(a+)+$"]}},
        ),
    )
    assert m.passed is False


@pytest.mark.parametrize(
    ("configuration", "eval_type", "message"),
    [
        ({"code": "def evaluate(call): return True"}, "binary", "Custom code is never run"),
        ({}, "binary", "needs configuration.rule"),
        ({"rule": {"match": "glob", "patterns": ["x"]}}, "binary", "rule.match"),
        ({"rule": {"match": "keyword", "patterns": []}}, "binary", "rule.patterns"),
        ({"rule": {"match": "regex", "patterns": ["(?<=a)b"]}}, "binary", "not a valid regex"),
        (
            {"rule": {"match": "keyword", "patterns": ["x"], "speaker": "agent"}},
            "binary",
            "rule.speaker",
        ),
        (
            {"rule": {"match": "keyword", "patterns": ["x"], "threshold": 0}},
            "binary",
            "rule.threshold",
        ),
        (
            {"rule": {"match": "keyword", "patterns": ["x"], "exec": "1"}},
            "binary",
            "Unknown rule field",
        ),
        ({"rule": {"match": "keyword", "patterns": ["x"]}}, "enum", "binary or numeric"),
    ],
)
def test_bad_rules_are_refused_with_the_reason(
    configuration: dict, eval_type: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rule(configuration, eval_type)


def test_llm_judge_uses_the_prompt_and_reads_each_eval_type() -> None:
    replies = [
        '{"passed": false, "why": "The agent refused the refund."}',
        'Sure: {"enum": "polite", "why": "Courteous throughout."}',
        '{"score": 4, "why": "Clear."}',
        '{"enum": "rude"}',
    ]
    with scripted_llm(replies) as llm:
        config = LLMConfig(llm.url, "judge")
        binary = evaluate(
            call(),
            CustomMetric(
                1, "Refund given", "binary", "llm_judge", prompt="Did the agent give the refund?"
            ),
            config,
        )
        enum = evaluate(
            call(),
            CustomMetric(
                2, "Tone", "enum", "llm_judge", prompt="Tone?", enum_values=("polite", "rude")
            ),
            config,
        )
        cq = evaluate(
            call(),
            CustomMetric(3, "Clarity", "continuous_qualitative", "llm_judge", prompt="How clear?"),
            config,
        )
        bad = evaluate(
            call(),
            CustomMetric(
                4, "Tone", "enum", "llm_judge", prompt="Tone?", enum_values=("polite", "curt")
            ),
            config,
        )
        sent = llm.requests[0]["body"]["messages"]
    assert binary.passed is False and binary.explanation == ["❌ The agent refused the refund."]
    assert (
        "Did the agent give the refund?" in sent[0]["content"]
        and "I want a refund" in sent[1]["content"]
    )
    assert enum.enum == "polite" and cq.score == 4.0
    assert bad.enum is None and "not one of the metric's enum_values" in bad.explanation[0]


def test_llm_metric_without_a_judge_says_so_and_does_not_fail_the_call() -> None:
    m = evaluate(call(), CustomMetric(1, "Refund given", "binary", "llm_judge", prompt="?"), None)
    assert m.passed is None and "needs an LLM judge" in m.explanation[0]


def test_a_failing_binary_custom_metric_fails_the_call() -> None:
    # (The silent tracks fail Infrastructure Issues, so only the custom metric is weighed here.)
    outcome, metrics, _ = score_call(call(), custom_metrics=[rule(expect="absent"), rule()])
    assert [m.passed for m in metrics[-2:]] == [False, True] and len(metrics) == 17
    assert call_success(outcome, metrics[-2:]) is False
    assert call_success(outcome, metrics[-1:]) is True


def test_overall_evaluation_and_failed_reasons_over_runs() -> None:
    def run(
        latencies: list[float],
        polite: bool | None,
        outcome: bool,
        status: str = "completed",
        success: bool = False,
    ) -> dict:
        return {
            "status": status,
            "success": success,
            "ended_reason": "Testing agent-ended-call",
            "expected_outcome": {"score": 100.0 if outcome else 0.0, "passed": outcome},
            "evaluation": {
                "metrics": [
                    {
                        "name": "Latency",
                        "eval_type": "numeric",
                        "score": float(np.median(latencies)),
                        "extra": {"turns": [{"latency_ms": v} for v in latencies]},
                    },
                    {"name": "Polite", "eval_type": "binary", "passed": polite},
                    {"name": "Sentiment", "eval_type": "enum", "enum": "positive"},
                ]
            },
        }

    runs = [
        run([100, 200], True, True, success=True),
        run([300, 400, 1000], False, False),
        run([500], None, True),
    ]
    out = overall_evaluation(runs)
    assert out["Polite"] == {
        "eval_type": "binary",
        "runs": 3,
        "judged": 2,
        "passed": 1,
        "pass_rate": 50.0,
    }
    assert out["Latency"]["turns"] == 6 and out["Latency"]["percentiles"]["p50"] == 350.0
    assert out["Latency"]["mean"] == pytest.approx((150 + 400 + 500) / 3, abs=0.01)
    assert out["Expected Outcome"]["pass_rate"] == pytest.approx(66.7)
    assert out["Sentiment"]["counts"] == {"positive": 3}
    failed = runs + [
        {
            "status": "failed",
            "success": None,
            "ended_reason": "Main agent-call-not-connected",
        }
    ]
    assert failed_reasons(failed) == {
        "Expected Outcome": 1,
        "Polite": 1,
        "Testing agent-ended-call": 1,
        "Main agent-call-not-connected": 1,
    }

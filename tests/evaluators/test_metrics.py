from __future__ import annotations

import json

import httpx
import numpy as np
import respx

from evaluators import CallData, evaluate_call
from evaluators.metrics.expected_outcome import LLMConfig, llm_judge, offline, quoted_phrases
from evaluators.metrics.latency import evaluate as latency
from evaluators.text import word_error_rate
from tests.evaluators.speech import speech

SR = 16000


def call_with_gaps(gaps_ms: list[int]) -> CallData:
    """Caller says a line; the agent answers exactly gap ms after the caller's last sample."""
    caller = np.zeros(SR * 30, dtype=np.int16)
    agent = np.zeros(SR * 30, dtype=np.int16)
    utts, t = [], SR
    for gap in gaps_ms:
        line = speech(1.0)
        caller[t : t + len(line)] = line
        utts.append(
            {"text": "x", "start": t / SR, "end": (t + len(line) + 800) / SR}
        )  # padded like TTS
        a = t + len(line) + gap * SR // 1000
        answer = speech(1.0)
        agent[a : a + len(answer)] = answer
        t = a + 2 * SR
    return CallData(SR, caller, agent, [], utts, [])


def test_latency_is_measured_on_the_audio_within_a_millisecond() -> None:
    gaps = [300, 800, 1500]
    m = latency(call_with_gaps(gaps))
    measured = [t["latency_ms"] for t in m.extra["turns"]]
    assert np.allclose(measured, gaps, atol=1.0), measured
    assert m.score == m.extra["percentiles"]["p50"]
    assert abs(m.score - 800.0) <= 1.0
    assert set(m.extra["percentiles"]) == {"p50", "p90", "p95", "p99"}


def test_latency_without_answers_says_so() -> None:
    call = call_with_gaps([500])
    call.agent[:] = 0
    m = latency(call)
    assert m.score is None and "No agent response" in m.explanation[0]


def test_quoted_phrase_rule() -> None:
    assert quoted_phrases('says "booked for Tuesday" and “ten am”') == [
        "booked for Tuesday",
        "ten am",
    ]
    transcript = [
        {"role": "Main Agent", "content": "Great, you are booked for Tuesday!"},
        {"role": "Testing Agent", "content": "ten am"},
    ]
    call = CallData(
        SR,
        np.zeros(1, np.int16),
        np.zeros(1, np.int16),
        transcript,
        [],
        [],
        'agent says "Booked for tuesday" and "ten am"',
    )
    r = offline(call)
    assert r.score == 50.0 and r.passed is False
    assert r.explanation[0].startswith("✅") and r.explanation[1].startswith(
        "❌"
    )  # the caller's words do not count
    call.expected_outcome_prompt = "the agent is polite"
    assert offline(call).passed is None


@respx.mock
def test_llm_judge_scores_parts_and_falls_back_on_failure() -> None:
    answer = {
        "parts": [
            {"part": "books", "met": True, "why": "said so"},
            {"part": "polite", "met": False, "why": "curt"},
        ]
    }
    route = respx.post("http://llm.test/v1/chat/completions").mock(
        return_value=httpx.Response(
            200, json={"choices": [{"message": {"content": json.dumps(answer)}}]}
        )
    )
    call = CallData(
        SR,
        np.zeros(1, np.int16),
        np.zeros(1, np.int16),
        [{"role": "Main Agent", "content": "booked"}],
        [],
        [],
        'books "booked"',
    )
    cfg = LLMConfig("http://llm.test/v1", "judge", "key")
    r = llm_judge(call, cfg)
    assert (r.score, r.passed) == (50.0, False) and r.explanation[0].startswith("✅ books")
    assert route.calls.last.request.headers["Authorization"] == "Bearer key"
    route.mock(return_value=httpx.Response(500))
    fallback = llm_judge(call, cfg)
    assert "fell back" in fallback.explanation[0] and fallback.passed is True


def test_evaluate_call_gives_outcome_and_latency() -> None:
    outcome, metrics = evaluate_call(call_with_gaps([400]))
    assert (
        outcome.name == "Expected Outcome" and metrics[0].name == "Latency" and len(metrics) == 15
    )
    assert abs(metrics[0].as_dict()["extra"]["percentiles"]["p50"] - 400.0) <= 1.0


def test_word_error_rate() -> None:
    assert word_error_rate("Book it for three pm.", "book it for 3 pm") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5

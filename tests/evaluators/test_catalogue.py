"""The offline catalogue on calls whose overlaps, silences and words are placed on purpose."""

from __future__ import annotations

import numpy as np
import pytest

from evaluators import CallData
from evaluators.catalogue import EXPECTED_OUTCOME_ID, call_success, evaluate_call
from evaluators.metrics import conversation as conv
from evaluators.metrics import outcome_checks as oc
from evaluators.registry import catalogue, predefined
from tests.evaluators.speech import speech

SR = 16000


def place(track: np.ndarray, start: float, seconds: float) -> None:
    a = int(start * SR)
    clip = speech(seconds)
    track[a : a + len(clip)] = clip


def call_with(
    caller_spans: list[tuple[float, float]],
    agent_spans: list[tuple[float, float]],
    length: float = 30.0,
    **kw: object,
) -> CallData:
    caller, agent = np.zeros(int(length * SR), np.int16), np.zeros(int(length * SR), np.int16)
    for s, d in caller_spans:
        place(caller, s, d)
    for s, d in agent_spans:
        place(agent, s, d)
    utts = [{"text": "x", "start": s, "end": s + d, "kind": "line"} for s, d in caller_spans]
    return CallData(
        SR,
        caller,
        agent,
        kw.pop("transcript", []),
        kw.pop("utts", utts),
        kw.pop("timeline", []),
        **kw,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("barge_ms", [400, 900, 1500])
def test_user_interruption_and_stop_time_are_measured_on_the_tracks(barge_ms: int) -> None:
    # The agent speaks from 5 s; the caller barges in barge_ms later; the agent stops about
    # 300 ms after that (its clip ends on a loud sample just short of it).
    barge = 5 + barge_ms / 1000
    call = call_with([(1, 2), (barge, 1.5)], [(5, barge - 5 + 0.3)])
    agent_stop = 5 + len(speech(barge - 5 + 0.3)) / SR
    m = conv.user_interrupting_ai(call)
    assert m.score == 1.0 and abs(m.extra["times"][0] - barge) <= 0.02
    stop = conv.stop_time_after_interruption(call)
    assert abs(stop.score - (agent_stop - m.extra["times"][0]) * 1000) <= 1, stop.extra
    assert conv.ai_interrupting_user(call).score == 0.0


def test_agent_talking_over_the_caller_is_counted_and_short_crosstalk_is_not() -> None:
    call = call_with([(1, 3)], [(2.0, 2.0)])
    assert conv.ai_interrupting_user(call).score == 1.0
    brief = call_with([(1, 3)], [(3.9, 1.0)])  # overlaps 100 ms only
    assert conv.ai_interrupting_user(brief).score == 0.0


def test_backchannels_are_not_interruptions() -> None:
    call = call_with(
        [(1, 1), (6, 0.4)],
        [(5, 3)],
        utts=[
            {"text": "x", "start": 1, "end": 2, "kind": "line"},
            {"text": "Mm-hmm.", "start": 6, "end": 6.4, "kind": "backchannel"},
        ],
    )
    assert conv.user_interrupting_ai(call).score == 0.0


def test_silence_talk_ratio_and_no_false_onsets_on_clicks() -> None:
    call = call_with([(1, 2)], [(4, 2), (17, 2)])
    silent = conv.detect_silence(call)
    assert silent.passed is False and abs(silent.extra["longest_silence_s"] - 11.0) < 0.1
    assert conv.detect_silence(call_with([(1, 2)], [(4, 2)])).passed is True
    assert abs(conv.talk_ratio(call).score - 4 / 6) < 0.02
    clicks = call_with([(1, 2)], [(4, 2), (27, 2)])
    for t in np.arange(7, 26, 1.7):  # single-sample clicks in the silence
        clicks.agent[int(t * SR)] = 30000
    assert conv.detect_silence(clicks).extra["longest_silence_s"] > 20  # no click counted as speech


def test_infrastructure_termination_transcription_sentiment_repetition() -> None:
    transcript = [
        {
            "role": "Main Agent",
            "content": "Hello, how can I help you today?",
            "start_time": 0.0,
            "end_time": 2.0,
        },
        {
            "role": "Testing Agent",
            "content": "I want to book a visit, thanks so much",
            "start_time": 3.0,
            "end_time": 5.0,
        },
        {
            "role": "Main Agent",
            "content": "Hello, how can I help you today?",
            "start_time": 6.0,
            "end_time": 8.0,
        },
        {
            "role": "Main Agent",
            "content": "Thank you for calling. Goodbye!",
            "start_time": 9.0,
            "end_time": 11.0,
        },
    ]
    utts = [
        {
            "text": "I want to book a visit, thank you so much",
            "start": 3.0,
            "end": 5.0,
            "kind": "line",
        }
    ]
    call = call_with(
        [(3, 2)],
        [(0, 2), (6, 2), (9, 2)],
        transcript=transcript,
        utts=utts,
        ended_reason="Main agent-ended-call",
    )
    assert oc.infrastructure_issues(call).passed is True
    assert oc.termination_by_main_agent(call).passed is True
    assert oc.termination_by_testing_agent(call).passed is None
    acc = oc.transcription_accuracy(call)
    assert acc.extra["wer"] == pytest.approx(2 / 10) and acc.score == 80.0  # "thank you" → "thanks"
    assert oc.sentiment(call).enum == "positive"
    assert conv.repetition(call).score == 1.0
    mute = call_with([(3, 2)], [])
    assert oc.infrastructure_issues(mute).passed is False
    assert "no audio from the agent" in oc.infrastructure_issues(mute).explanation[0]
    rude = call_with(
        [(3, 2)],
        [(0, 2)],
        transcript=transcript[:2],
        utts=utts,
        ended_reason="Main agent-ended-call",
    )
    assert oc.termination_by_main_agent(rude).passed is False


def test_catalogue_shape_and_success_rule() -> None:
    assert [m.id for m in catalogue()] == list(range(1, 17))
    call = call_with([(1, 2)], [(4, 2)], ended_reason="Testing agent-ended-call")
    outcome, metrics = evaluate_call(call)
    # Each metric comes out as the catalogue declares it (id, name, type), the outcome apart.
    declared = [(m.id, m.name, m.eval_type) for m in catalogue()]
    scored = [(r.id, r.name, r.eval_type) for r in [outcome, *metrics]]
    assert sorted(scored) == declared and outcome.id == EXPECTED_OUTCOME_ID
    shapes = {m.name: m.as_dict() for m in metrics}
    assert (
        "passed" in shapes["Infrastructure Issues"]
        and "score" in shapes["Talk Ratio"]
        and "enum" in shapes["Sentiment"]
    )
    assert call_success(outcome, metrics) is False  # the caller hung up without a goodbye
    ok = [m for m in metrics if m.name != "Appropriate Termination by Testing Agent"]
    assert call_success(outcome, ok) is True


def test_a_metric_is_declared_once() -> None:
    taken = catalogue()[0]
    with pytest.raises(ValueError, match="clashes"):
        predefined(taken.id, "Another name", "binary", "x")(lambda call, metric_id: None)
    with pytest.raises(ValueError, match="clashes"):
        predefined(999, taken.name, "binary", "x")(lambda call, metric_id: None)
    with pytest.raises(ValueError, match="eval_type"):
        predefined(998, "Odd", "percent", "x")
    assert [m.id for m in catalogue()] == list(range(1, 17))


def test_a_scenario_that_checks_nothing_is_not_judged() -> None:
    from dataclasses import replace

    from evaluators.catalogue import score_call

    def said(role: str, text: str, at: float) -> dict[str, object]:
        return {"role": role, "content": text, "start_time": at, "end_time": at + 1}

    transcript = [
        said("Testing Agent", "Is it the clinic? Bye.", 1),
        said("Main Agent", "Yes. Goodbye!", 3),
    ]
    base = call_with(
        [(1, 1)], [(3, 1)], transcript=transcript, ended_reason="Testing agent-ended-call"
    )
    assert score_call(base)[2] is None  # no expected outcome, no metric: nothing says what good is
    judged = replace(base, expected_outcome_prompt="Greets the caller")
    assert score_call(judged)[2] is not None  # judged now (no LLM here: pass or fail, never None)
    silent = replace(base, transcript=transcript[:1])
    assert score_call(silent)[2] is False  # the agent never answered: a failure either way
    # A predefined check that fails (the agent hung up without a goodbye) fails the run.
    rude = replace(
        base,
        ended_reason="Main agent-ended-call",
        transcript=[transcript[0], said("Main Agent", "Yes.", 3)],
    )
    assert score_call(rude)[2] is False

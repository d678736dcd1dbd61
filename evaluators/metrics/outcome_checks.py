"""Metrics about how the call went: infrastructure, termination, our own transcription,
sentiment, and the LLM-only judgements (CSAT, hallucination)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from common.llm import LLMConfig, LLMError
from common.text import says_goodbye
from common.vocabulary import EndedReason, Role

from ..activity import seconds
from ..base import NO_JUDGE, CallData, MetricResult
from ..judge import ask_about_call
from ..registry import predefined
from ..text import word_error_rate


@predefined(
    7,
    "Infrastructure Issues",
    "binary",
    "Fails on a join failure, no audio from the agent, or one-way audio.",
)
def infrastructure_issues(call: CallData, metric_id: int | None = None) -> MetricResult:
    problems = []
    if call.ended_reason == EndedReason.CALL_NOT_CONNECTED:
        problems.append("the call did not connect (join failure)")
    agent_s, caller_s = seconds(call.agent_active), seconds(call.caller_active)
    if not agent_s:
        problems.append("no audio from the agent")
    elif not caller_s:
        problems.append("one-way audio: the caller's audio never went out")
    return MetricResult(
        metric_id,
        "Infrastructure Issues",
        "binary",
        passed=not problems,
        explanation=[f"❌ {p}" for p in problems] or ["✅ Both sides were heard."],
    )


def _last_turn(call: CallData, role: str) -> str:
    turns = [t["content"] for t in call.transcript if t["role"] == role]
    return turns[-1] if turns else ""


@predefined(
    8,
    "Appropriate Termination by Main Agent",
    "binary",
    "When the agent ended the call: passes if it closed the conversation (a goodbye) before "
    "leaving.",
)
def termination_by_main_agent(call: CallData, metric_id: int | None = None) -> MetricResult:
    name = "Appropriate Termination by Main Agent"
    if call.ended_reason != EndedReason.MAIN_AGENT_ENDED:
        return MetricResult(
            metric_id,
            name,
            "binary",
            passed=None,
            explanation=["Not applicable: the agent did not end the call."],
        )
    said_bye = says_goodbye(_last_turn(call, Role.MAIN_AGENT))
    return MetricResult(
        metric_id,
        name,
        "binary",
        passed=said_bye,
        explanation=[
            "✅ The agent closed the call politely before leaving."
            if said_bye
            else "❌ The agent left without closing the conversation."
        ],
    )


@predefined(
    9,
    "Appropriate Termination by Testing Agent",
    "binary",
    "When the caller ended the call: passes if it said goodbye; fails if the call hit its "
    "maximum duration.",
)
def termination_by_testing_agent(call: CallData, metric_id: int | None = None) -> MetricResult:
    name = "Appropriate Termination by Testing Agent"
    if call.ended_reason == EndedReason.EXCEEDED_MAX_DURATION:
        return MetricResult(
            metric_id,
            name,
            "binary",
            passed=False,
            explanation=["❌ The call ran until the maximum duration."],
        )
    if call.ended_reason != EndedReason.TESTING_AGENT_ENDED:
        return MetricResult(
            metric_id,
            name,
            "binary",
            passed=None,
            explanation=["Not applicable: the caller did not end the call."],
        )
    hangups = [e for e in call.timeline if e.get("kind") == "caller_hangup"]
    reason = hangups[-1]["data"].get("reason", "") if hangups else ""
    said_bye = says_goodbye(_last_turn(call, Role.TESTING_AGENT))
    return MetricResult(
        metric_id,
        name,
        "binary",
        passed=said_bye,
        explanation=[
            (
                "✅ The caller said goodbye and hung up"
                if said_bye
                else "❌ The caller hung up without a goodbye"
            )
            + (f" ({reason})." if reason else ".")
        ],
    )


@predefined(
    13,
    "Transcription Accuracy",
    "numeric",
    "Our ASR on the caller's own track against the text the caller was made to say: 100 × (1 − "
    "WER).",
    unit="%",
)
def transcription_accuracy(call: CallData, metric_id: int | None = None) -> MetricResult:
    """Our ASR's word error rate on the caller's own track, against what it was made to say."""
    pairs: list[tuple[str, str]] = []
    for utt in call.caller_utterances:
        found = [
            t["content"]
            for t in call.transcript
            if t["role"] == Role.TESTING_AGENT and abs(t["start_time"] - utt["start"]) < 0.05
        ]
        if found:
            pairs.append((str(utt["text"]), str(found[0])))
    if not pairs:
        return MetricResult(
            metric_id,
            "Transcription Accuracy",
            "numeric",
            None,
            explanation=["No caller speech to check."],
        )
    said, heard = " ".join(p[0] for p in pairs), " ".join(p[1] for p in pairs)
    wer = word_error_rate(said, heard)
    return MetricResult(
        metric_id,
        "Transcription Accuracy",
        "numeric",
        round(100 * (1 - min(wer, 1.0)), 1),
        explanation=[
            f"Our ASR heard the caller's {len(pairs)} line(s) with a word error rate of {wer:.1%}."
        ],
        extra={"wer": round(wer, 4)},
    )


@predefined(
    14,
    "Sentiment",
    "enum",
    "The caller's sentiment from the VADER lexicon: positive, neutral or negative.",
)
def sentiment(call: CallData, metric_id: int | None = None) -> MetricResult:
    """The caller's sentiment over the call, from the VADER lexicon (offline)."""
    text = " ".join(t["content"] for t in call.transcript if t["role"] == Role.TESTING_AGENT)
    if not text.strip():
        return MetricResult(
            metric_id, "Sentiment", "enum", enum=None, explanation=["The caller said nothing."]
        )
    compound = _vader().polarity_scores(text)["compound"]
    label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
    return MetricResult(
        metric_id,
        "Sentiment",
        "enum",
        enum=label,
        explanation=[f"Caller sentiment {label} (VADER compound {compound:+.2f})."],
        extra={"compound": compound},
    )


@lru_cache(maxsize=1)
def _vader() -> Any:
    """The analyser, its lexicon read once per process (reading it is most of its cost)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _needs_llm(name: str, eval_type: str, metric_id: int | None) -> MetricResult:
    return MetricResult(
        metric_id,
        name,
        eval_type,
        explanation=[NO_JUDGE],
    )


@predefined(
    15,
    "CSAT",
    "numeric",
    "How satisfied the caller would be, 1–5, by an LLM judge (needs one configured).",
    uses_llm=True,
)
def csat(call: CallData, metric_id: int | None, llm: LLMConfig | None) -> MetricResult:
    if llm is None:
        return _needs_llm("CSAT", "numeric", metric_id)
    try:
        out = ask_about_call(
            llm, 'How satisfied would the caller be, 1 to 5? {"score": int, "why": str}', call
        )
        score = float(out["score"])
    except (LLMError, KeyError, TypeError, ValueError) as exc:
        return MetricResult(
            metric_id,
            "CSAT",
            "numeric",
            explanation=[f"The LLM judge failed ({exc.__class__.__name__})."],
        )
    return MetricResult(metric_id, "CSAT", "numeric", score, explanation=[str(out.get("why", ""))])


@predefined(
    16,
    "Hallucination",
    "binary",
    "Whether the agent made things up, by an LLM judge (needs one configured).",
    uses_llm=True,
)
def hallucination(call: CallData, metric_id: int | None, llm: LLMConfig | None) -> MetricResult:
    if llm is None:
        return _needs_llm("Hallucination", "binary", metric_id)
    try:
        out = ask_about_call(
            llm,
            'Did the Main Agent state anything made up or contradicting itself? {"hallucinated": '
            'bool, "why": str}',
            call,
        )
        passed = not bool(out["hallucinated"])
    except (LLMError, KeyError, TypeError, ValueError) as exc:
        return MetricResult(
            metric_id,
            "Hallucination",
            "binary",
            explanation=[f"The LLM judge failed ({exc.__class__.__name__})."],
        )
    return MetricResult(
        metric_id,
        "Hallucination",
        "binary",
        passed=passed,
        explanation=[("✅ " if passed else "❌ ") + str(out.get("why", ""))],
    )

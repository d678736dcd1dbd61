"""Expected Outcome: an LLM judge when one is configured; offline, the quoted-phrase rule:
every phrase in quotes in `expected_outcome_prompt` must occur in what the agent said."""

from __future__ import annotations

import re

import httpx

from common.llm import LLMConfig, LLMError

from ..base import CallData, MetricResult
from ..judge import ask, transcript_text
from ..registry import predefined

__all__ = ["LLMConfig", "evaluate", "llm_judge", "offline", "quoted_phrases"]

NAME = "Expected Outcome"
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']{2,})'")


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def quoted_phrases(prompt: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(prompt or "")]


def offline(call: CallData, metric_id: int | None = None) -> MetricResult:
    phrases = quoted_phrases(call.expected_outcome_prompt)
    if not phrases:
        return MetricResult(
            metric_id,
            NAME,
            "numeric",
            None,
            None,
            explanation=[
                "Not judged: no LLM judge is configured and the expected outcome quotes no phrase "
                "to look for."
            ],
        )
    said = f" {_normalise(call.agent_text())} "
    lines, found = [], 0
    for phrase in phrases:
        if f" {_normalise(phrase)} " in said:
            found += 1
            lines.append(f'✅ The agent said "{phrase}".')
        else:
            lines.append(f'❌ The agent never said "{phrase}".')
    score = round(100.0 * found / len(phrases), 1)
    return MetricResult(
        metric_id,
        NAME,
        "numeric",
        score,
        found == len(phrases),
        explanation=lines,
        extra={"method": "quoted-phrases"},
    )


def llm_judge(
    call: CallData,
    config: LLMConfig,
    metric_id: int | None = None,
    client: httpx.Client | None = None,
) -> MetricResult:
    system = (
        "You judge a phone call between a Testing Agent (the caller) and a Main Agent. "
        "Split the expected outcome into its parts and check each against the transcript. "
        'Answer JSON only: {"parts": [{"part": str, "met": bool, "why": str}]}'
    )
    user = (
        f"Expected outcome:\n{call.expected_outcome_prompt}\n\nTranscript:\n{transcript_text(call)}"
    )
    try:
        parts = ask(config, system, user, client=client)["parts"]
        if not parts:
            raise ValueError("judge returned no parts")
    except (LLMError, KeyError, IndexError, TypeError, ValueError) as exc:
        result = offline(call, metric_id)
        result.explanation.insert(
            0,
            f"The LLM judge failed ({exc.__class__.__name__}); fell back to the quoted-phrase "
            "rule.",
        )
        return result
    met = sum(1 for p in parts if p.get("met"))
    lines = [
        f"{'✅' if p.get('met') else '❌'} {p.get('part', '')}: {p.get('why', '')}".strip()
        for p in parts
    ]
    return MetricResult(
        metric_id,
        NAME,
        "numeric",
        round(100.0 * met / len(parts), 1),
        met == len(parts),
        explanation=lines,
        extra={"method": "llm-judge"},
    )


@predefined(
    1,
    NAME,
    "numeric",
    "Whether the call reached the scenario's expected outcome: an LLM judge when configured; "
    "offline, every quoted phrase of the expected outcome must occur in the agent's speech. "
    "Score is the percentage of outcome parts met.",
    unit="%",
    uses_llm=True,
)
def evaluate(
    call: CallData, metric_id: int | None = None, llm: LLMConfig | None = None
) -> MetricResult:
    if llm is not None and call.expected_outcome_prompt.strip():
        return llm_judge(call, llm, metric_id)
    return offline(call, metric_id)

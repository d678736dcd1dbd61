"""Custom metrics: a declarative rule over the transcript, or an LLM judge with the user's prompt.

No user-supplied code is ever run. A `custom_code` metric is a rule in `configuration["rule"]`:

    {"match": "keyword" | "regex",        # keywords match whole words, case-insensitively
     "patterns": ["refund", ...],         # 1–20 patterns, each at most 200 characters
     "speaker": "Main Agent" | "Testing Agent" | "both",   # default "Main Agent"
     "expect": "present" | "absent",      # default "present"
     "threshold": 1,                      # matches that count as present (default 1)
     "case_sensitive": false}

`count` is the number of matches in the chosen speaker's turns. `present` passes when
count ≥ threshold; `absent` passes when count < threshold. A binary metric reports the pass; a
numeric one reports the count as its score. Regexes run on RE2 (linear time, no
backreferences), so a pattern cannot hang a worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import re2

from common.llm import LLMConfig, LLMError
from common.vocabulary import Role

from .base import NO_JUDGE, CallData, MetricResult
from .judge import ask, transcript_text

SPEAKERS = (Role.MAIN_AGENT, Role.TESTING_AGENT, "both")
MAX_PATTERNS = 20
MAX_PATTERN_CHARS = 200
RULE_EVAL_TYPES = ("binary", "numeric")
_RULE_KEYS = {"match", "patterns", "speaker", "expect", "threshold", "case_sensitive"}
CONTINUOUS_SCALE = (1, 5)


@dataclass(frozen=True)
class Rule:
    match: str
    patterns: tuple[str, ...]
    speaker: str = Role.MAIN_AGENT
    expect: str = "present"
    threshold: int = 1
    case_sensitive: bool = False

    def compiled(self) -> list[Any]:
        return [_compile(p, self.match, self.case_sensitive) for p in self.patterns]


def _compile(pattern: str, match: str, case_sensitive: bool) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = case_sensitive
    if (
        match == "keyword"
    ):  # whole words: a word boundary wherever the keyword starts or ends on a letter
        lead = r"\b" if re.match(r"\w", pattern) else ""
        tail = r"\b" if re.search(r"\w$", pattern) else ""
        pattern = f"{lead}{re.escape(pattern)}{tail}"
    return re2.compile(pattern, options)


@dataclass(frozen=True)
class CustomMetric:
    """A user's metric as plain data (the worker builds these from the Metric rows)."""

    id: int | None
    name: str
    eval_type: str
    type: str  # custom_code (a rule) | llm_judge
    prompt: str = ""
    configuration: dict[str, Any] = field(default_factory=dict)
    enum_values: tuple[str, ...] = ()


def parse_rule(configuration: Any, eval_type: str) -> Rule:
    """The rule in a custom_code metric's configuration; ValueError saying what is wrong."""
    raw = _rule_object(configuration, eval_type)
    match = raw.get("match")
    if match not in ("keyword", "regex"):
        raise ValueError('rule.match must be "keyword" or "regex".')
    patterns = _rule_patterns(raw.get("patterns"))
    speaker = raw.get("speaker", Role.MAIN_AGENT)
    if speaker not in SPEAKERS:
        raise ValueError(f"rule.speaker must be one of: {', '.join(SPEAKERS)}.")
    expect = raw.get("expect", "present")
    if expect not in ("present", "absent"):
        raise ValueError('rule.expect must be "present" or "absent".')
    threshold = raw.get("threshold", 1)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 1000:
        raise ValueError("rule.threshold must be a whole number from 1 to 1000.")
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise ValueError("rule.case_sensitive must be true or false.")
    for pattern in patterns:
        _check_compiles(pattern, match, case_sensitive)
    return Rule(match, patterns, speaker, expect, threshold, case_sensitive)


def _rule_object(configuration: Any, eval_type: str) -> dict[str, Any]:
    """configuration.rule, checked for its shape: an object of known fields, on a metric type
    a rule can give."""
    if not isinstance(configuration, dict):
        raise ValueError("configuration must be an object.")
    if "code" in configuration:
        raise ValueError(
            "Custom code is never run here; describe the check as configuration.rule (a keyword or "
            "regex rule)."
        )
    raw = configuration.get("rule")
    if not isinstance(raw, dict):
        raise ValueError(
            'A custom_code metric needs configuration.rule, e.g. {"match": "keyword", "patterns": '
            '["refund"], "speaker": "Main Agent", "expect": "present"}.'
        )
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise ValueError(
            f"Unknown rule field(s): {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(_RULE_KEYS))}."
        )
    if eval_type not in RULE_EVAL_TYPES:
        raise ValueError(
            "A rule metric is binary or numeric; use type llm_judge for enum and "
            "continuous_qualitative metrics."
        )
    return raw


def _rule_patterns(patterns: Any) -> tuple[str, ...]:
    """rule.patterns: 1–20 non-empty strings (a single string is a list of one)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if (
        not isinstance(patterns, list)
        or not patterns
        or not all(isinstance(p, str) and p.strip() for p in patterns)
    ):
        raise ValueError("rule.patterns must be a non-empty list of non-empty strings.")
    if len(patterns) > MAX_PATTERNS or any(len(p) > MAX_PATTERN_CHARS for p in patterns):
        raise ValueError(
            f"rule.patterns takes at most {MAX_PATTERNS} patterns of at most {MAX_PATTERN_CHARS} "
            "characters."
        )
    return tuple(patterns)


def _check_compiles(pattern: str, match: str, case_sensitive: bool) -> None:
    try:
        _compile(pattern, match, case_sensitive)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"rule.patterns: {pattern!r} is not a valid regex ({detail}); lookarounds and "
            "backreferences are not supported."
        ) from None


def evaluate_rule(call: CallData, metric: CustomMetric) -> MetricResult:
    try:
        rule = parse_rule(metric.configuration, metric.eval_type)
    except ValueError as exc:
        return MetricResult(
            metric.id, metric.name, metric.eval_type, explanation=[f"Not judged: {exc}"]
        )
    compiled = rule.compiled()
    count, hits = 0, []
    for turn in call.transcript:
        if rule.speaker != "both" and turn["role"] != rule.speaker:
            continue
        for pattern, source in zip(compiled, rule.patterns, strict=True):
            found = len(pattern.findall(turn["content"]))
            if found:
                count += found
                hits.append(
                    f'{turn["role"]} at {turn.get("time", "")}: "{source}" ×{found} in '
                    f'"{turn["content"]}"'
                )
    passed = count >= rule.threshold if rule.expect == "present" else count < rule.threshold
    who = "either side" if rule.speaker == "both" else f"the {rule.speaker}"
    want = (
        f"at least {rule.threshold}" if rule.expect == "present" else f"fewer than {rule.threshold}"
    )
    lines = [f"{'✅' if passed else '❌'} {count} match(es) from {who}; wanted {want}."] + hits[:20]
    extra = {"count": count, "method": "rule"}
    if metric.eval_type == "numeric":
        return MetricResult(
            metric.id,
            metric.name,
            "numeric",
            score=float(count),
            passed=passed,
            explanation=lines,
            extra=extra,
        )
    return MetricResult(
        metric.id, metric.name, "binary", passed=passed, explanation=lines, extra=extra
    )


def _judge_question(metric: CustomMetric) -> str:
    shape = {
        "binary": '{"passed": true or false, "why": "..."}',
        "numeric": '{"score": a number, "why": "..."}',
        "enum": '{"enum": one of '
        + ", ".join(f'"{v}"' for v in metric.enum_values)
        + ', "why": "..."}',
        "continuous_qualitative": f'{{"score": a number from {CONTINUOUS_SCALE[0]} to {CONTINUOUS_SCALE[1]}, "why": "..."}}',  # noqa: E501
    }[metric.eval_type]
    return (
        "You evaluate a phone call between a Testing Agent (the caller) and a Main Agent against "
        "the "
        "evaluator's instructions below. Answer JSON only, exactly: "
        f"{shape}\n\nInstructions:\n{metric.prompt}"
    )


def evaluate_llm(call: CallData, metric: CustomMetric, llm: LLMConfig | None) -> MetricResult:
    result = MetricResult(metric.id, metric.name, metric.eval_type, extra={"method": "llm-judge"})
    if llm is None:
        result.explanation = [NO_JUDGE]
        return result
    try:
        out = ask(llm, _judge_question(metric), transcript_text(call))
        why = str(out.get("why", "")).strip()
        if metric.eval_type == "binary":
            if not isinstance(out.get("passed"), bool):
                raise ValueError('no true/false "passed"')
            result.passed = out["passed"]
            why = f"{'✅' if result.passed else '❌'} {why}".strip()
        elif metric.eval_type == "enum":
            if out.get("enum") not in metric.enum_values:
                raise ValueError(f"{out.get('enum')!r} is not one of the metric's enum_values")
            result.enum = out["enum"]
        else:
            result.score = float(out["score"])
            if (
                metric.eval_type == "continuous_qualitative"
                and not CONTINUOUS_SCALE[0] <= result.score <= CONTINUOUS_SCALE[1]
            ):
                raise ValueError(
                    f"score {result.score:g} is outside {CONTINUOUS_SCALE[0]}–{CONTINUOUS_SCALE[1]}"
                )
    except (LLMError, KeyError, TypeError, ValueError) as exc:
        reason = exc.message if isinstance(exc, LLMError) else str(exc)
        return MetricResult(
            metric.id,
            metric.name,
            metric.eval_type,
            explanation=[f"The LLM judge failed: {reason}."],
            extra={"method": "llm-judge"},
        )
    result.explanation = [why] if why else []
    return result


def evaluate(call: CallData, metric: CustomMetric, llm: LLMConfig | None = None) -> MetricResult:
    if metric.type == "llm_judge":
        return evaluate_llm(call, metric, llm)
    return evaluate_rule(call, metric)

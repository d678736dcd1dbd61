"""What the caller says next. A policy sees what the agent said (transcribed as each agent turn
ends) and answers the next line, or hangs up with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from common.llm import LLMConfig, LLMError, chat
from common.text import says_goodbye

from .errors import RunnerError
from .matcher import best_match
from .types import MAX_LINE_CHARS

GOODBYE = "Thank you, goodbye."
END_TOKEN = "[END_CALL]"


@dataclass
class Decision:
    text: str | None  # what to say (None: nothing more)
    hang_up: bool = False
    reason: str = ""  # why the caller hangs up, for the timeline
    meta: dict[str, Any] = field(default_factory=dict)


class CallerPolicy(Protocol):
    def opening(self) -> str: ...

    def next_line(self, agent_said: str) -> Decision: ...


class ScriptedPolicy:
    """The opening line, then each line in order; goodbye when the script is done."""

    def __init__(self, lines: list[str], goodbye: str = GOODBYE) -> None:
        self.lines = list(lines) or ["Hello"]
        self.goodbye = goodbye
        self._next = 1

    def opening(self) -> str:
        return self.lines[0]

    def next_line(self, agent_said: str) -> Decision:
        if says_goodbye(agent_said):
            return Decision(self.goodbye, hang_up=True, reason="the agent said goodbye")
        if self._next < len(self.lines):
            self._next += 1
            return Decision(self.lines[self._next - 1])
        return Decision(self.goodbye, hang_up=True, reason="the script is done")


@dataclass
class Condition:
    id: int
    condition: str
    action: str
    fixed_message: bool = False


class ConditionalPolicy:
    """Each agent turn is matched against the conditions not used yet; the best match's action
    is spoken. With no match, the next unused fixed message keeps the call going; when every
    condition is used, the caller says goodbye.

    Fixed-message actions are spoken verbatim. Others are spoken verbatim too, unless an LLM is
    given: then it says the action in its own words, in reply to what the agent just said."""

    def __init__(
        self,
        first_message: str,
        conditions: list[Condition],
        goodbye: str = GOODBYE,
        threshold: float = 0.5,
        llm: LLMConfig | None = None,
        seed: int | None = None,
    ) -> None:
        self.first = first_message
        self.conditions = conditions
        self.goodbye = goodbye
        self.threshold = threshold
        self.used: set[int] = set()
        self.llm = llm
        self.seed = seed

    def opening(self) -> str:
        return self.first

    def next_line(self, agent_said: str) -> Decision:
        if says_goodbye(agent_said):
            return Decision(self.goodbye, hang_up=True, reason="the agent said goodbye")
        open_ = [c for c in self.conditions if c.id not in self.used]
        if not open_:
            return Decision(self.goodbye, hang_up=True, reason="every condition was handled")
        match = best_match([c.condition for c in open_], agent_said, threshold=self.threshold)
        if match is not None:
            chosen, how = open_[match.index], {"matched": True, "score": round(match.score, 2)}
        else:
            fixed = [c for c in open_ if c.fixed_message]
            if not fixed:
                return Decision(
                    self.goodbye, hang_up=True, reason="no condition matched what the agent said"
                )
            chosen, how = fixed[0], {"matched": False}
        self.used.add(chosen.id)
        text = chosen.action
        if self.llm is not None and not chosen.fixed_message:
            text = self._rephrase(chosen.action, agent_said)
            how["rephrased"] = True
        return Decision(text, meta={"condition_id": chosen.id, **how})

    def _rephrase(self, action: str, agent_said: str) -> str:
        assert self.llm is not None
        messages = [
            {
                "role": "system",
                "content": "You are a caller on a phone call. Say what you are told to, naturally, in one or two short spoken sentences. Answer with the words only.",  # noqa: E501
            },
            {
                "role": "user",
                "content": f"The agent just said: {agent_said!r}\nWhat you should do now: {action}",
            },
        ]
        try:
            return (
                chat(self.llm, messages, temperature=0.7, seed=self.seed)
                .replace(END_TOKEN, "")
                .strip()
                .strip('"')
                or action
            )
        except LLMError as exc:
            raise RunnerError(f"the LLM caller failed: {exc.message}") from None


class LLMPolicy:
    """An LLM plays the caller from the scenario's instructions and personality."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        instructions: str,
        first_message: str,
        personality: str = "",
        seed: int | None = None,
        max_turns: int = 20,
    ) -> None:
        self.config = config
        self.first = first_message
        self.seed = seed
        self.max_turns = max_turns
        persona = f"\nYour personality: {personality}" if personality else ""
        self.messages: list[dict[str, str]] = [
            {
                "role": "system",
                "content": (
                    "You are a caller on a phone call with a voice agent. Follow these "
                    "instructions:\n"
                    f"{instructions}{persona}\n"
                    "Answer with exactly what you say next, one or two short spoken sentences, no "
                    "stage directions. "
                    "When your goal is reached or the agent says goodbye, say a short goodbye and "
                    f"end with {END_TOKEN}."
                ),
            },
            {"role": "assistant", "content": first_message},
        ]

    def opening(self) -> str:
        return self.first

    def next_line(self, agent_said: str) -> Decision:
        self.messages.append({"role": "user", "content": agent_said or "(the agent said nothing)"})
        if sum(1 for m in self.messages if m["role"] == "assistant") >= self.max_turns:
            return Decision(
                GOODBYE, hang_up=True, reason=f"the caller reached {self.max_turns} turns"
            )
        try:
            reply = chat(self.config, self.messages, temperature=0.7, seed=self.seed).strip()
        except LLMError as exc:
            # RunnerError's ended reason is the pipeline error: our side of the call failed.
            raise RunnerError(f"the LLM caller failed: {exc.message}") from None
        hang_up = END_TOKEN in reply
        text = clip_line(reply.replace(END_TOKEN, "").strip().strip('"')) or (
            GOODBYE if hang_up else ""
        )
        self.messages.append({"role": "assistant", "content": text})
        if not text:
            return Decision(GOODBYE, hang_up=True, reason="the LLM caller had nothing to say")
        return Decision(
            text, hang_up=hang_up, reason="the caller reached its goal" if hang_up else ""
        )


_QUOTE = re.compile(r"\"([^\"]{2,})\"|“([^”]{2,})”")


def clip_line(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """A model's line, cut to the limit of a line of speech at its last full sentence."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in re.finditer(r"[.!?](\s|$)", head)]
    return head[: ends[-1]].strip() if ends else head.rsplit(" ", 1)[0]


def lines_from_instructions(instructions: str) -> list[str]:
    """The quoted sentences of the instructions, in order."""
    return [next(g for g in m.groups() if g).strip() for m in _QUOTE.finditer(instructions or "")]


def conditions_from_instructions(instructions: str) -> list[Condition]:
    """Offline, an instruction scenario becomes conditions for the matcher: each quoted line is
    an action, and the words before it in its sentence ("When asked for a day, say …") are its
    condition. Lines with no lead-in still come in order when nothing else matches."""
    conditions = []
    last_end = 0
    for i, m in enumerate(_QUOTE.finditer(instructions or ""), start=1):
        lead = re.split(r"[.!?\n]", instructions[last_end : m.start()])[-1]
        lead = re.sub(
            r"\b(say|says|ask|answer|reply|respond|tell them|with)\b[\s:,]*$",
            "",
            lead.strip(),
            flags=re.I,
        ).strip(" ,:")
        conditions.append(
            Condition(i, lead, next(g for g in m.groups() if g).strip(), fixed_message=True)
        )
        last_end = m.end()
    return conditions

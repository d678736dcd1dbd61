"""The simulated caller: matcher, policies, the LLM caller, reproducibility."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from agora_runner.errors import RunnerError
from agora_runner.matcher import best_match, score
from agora_runner.policy import (
    Condition,
    ConditionalPolicy,
    LLMPolicy,
    ScriptedPolicy,
    lines_from_instructions,
)
from agora_runner.runner import execute_call
from agora_runner.types import CallerScript
from common.llm import LLMConfig
from common.vocabulary import EndedReason

from .fake_llm import scripted_llm
from .test_call import spec_for


@pytest.mark.parametrize(
    ("condition", "said", "passes"),
    [
        ("agent asks which day", "Which day would suit you?", True),
        ("agent asks for the date", "What day works best for you?", True),  # synonym day → date
        ("agent mentions opening hours", "We are open Monday to Friday from eight.", True),
        ("agent confirms the appointment", "Great, your appointment is on Tuesday.", True),
        ("agent offers a refill", "I have sent a refill request to your doctor.", True),
        ("agent asks for a phone number", "We are open Monday to Friday.", False),
        ("agent asks which day", "Your appointment has been cancelled.", False),
    ],
)
def test_matcher_scores(condition: str, said: str, passes: bool) -> None:
    assert (score(condition, said) >= 0.5) is passes, score(condition, said)


def test_matcher_prefers_exact_phrase_and_tolerates_asr_spelling() -> None:
    assert score("anything else", "Is there anything else?") == 1.0
    assert (
        score("agent mentions the prescripton", "your prescription is ready") == 1.0
    )  # fuzzy word
    conds = ["agent says goodbye", "agent asks which day", "agent gives opening hours"]
    assert best_match(conds, "Which day would you like to come in?").index == 1  # type: ignore[union-attr]
    assert best_match(conds, "The weather is nice.") is None


def test_conditional_policy_answers_by_content_not_by_order() -> None:
    policy = ConditionalPolicy(
        "Hi, I need an appointment.",
        [
            Condition(1, "agent asks if there is anything else", "No, that is all.", True),
            Condition(2, "agent asks which day", "Tuesday please.", True),
        ],
    )
    assert policy.opening() == "Hi, I need an appointment."
    d = policy.next_line("Sure. Which day would suit you?")
    assert (d.text, d.meta["condition_id"], d.meta["matched"]) == ("Tuesday please.", 2, True)
    d = policy.next_line("Booked. Is there anything else?")
    assert d.text == "No, that is all." and d.meta["matched"] is True
    d = policy.next_line("Alright.")
    assert d.hang_up and d.reason == "every condition was handled"


def test_conditional_policy_falls_back_to_the_next_fixed_message_and_hangs_up_on_goodbye() -> None:
    policy = ConditionalPolicy("Hello", [Condition(1, "agent asks for a name", "It is Sam.", True)])
    d = policy.next_line("Mm.")
    assert d.text == "It is Sam." and d.meta == {"condition_id": 1, "matched": False}
    policy = ConditionalPolicy("Hello", [Condition(1, "x", "y", True)])
    d = policy.next_line("Thank you for calling, goodbye!")
    assert d.hang_up and d.reason == "the agent said goodbye"


def test_instruction_lines_and_scripted_policy() -> None:
    lines = lines_from_instructions('Say "I want to cancel." then “My name is Sam.”')
    assert lines == ["I want to cancel.", "My name is Sam."]
    p = ScriptedPolicy(["a", "b"])
    assert p.opening() == "a" and p.next_line("ok").text == "b"
    assert p.next_line("ok").hang_up


def test_llm_policy_sends_the_conversation_and_ends_on_its_token() -> None:
    with scripted_llm(["Tuesday, please.", "No thanks, goodbye. [END_CALL]"]) as llm:
        policy = LLMPolicy(
            LLMConfig(llm.url, "caller-model", "k"),
            instructions="Book a visit for Tuesday.",
            first_message="Hi, I'd like a visit.",
            personality="polite",
            seed=7,
        )
        assert policy.next_line("Which day?").text == "Tuesday, please."
        last = policy.next_line("Done. Anything else?")
        assert (last.text, last.hang_up) == ("No thanks, goodbye.", True)
        sent = llm.requests[-1]["body"]
        assert sent["model"] == "caller-model" and sent["seed"] == 7
        roles = [m["role"] for m in sent["messages"]]
        assert roles == ["system", "assistant", "user", "assistant", "user"]
        assert (
            "Book a visit for Tuesday." in sent["messages"][0]["content"]
            and "polite" in sent["messages"][0]["content"]
        )
        assert sent["messages"][2]["content"] == "Which day?"
        assert llm.requests[0]["auth"] == "Bearer k"


def test_llm_failures_are_retried_then_end_as_a_pipeline_error() -> None:
    with scripted_llm([], status=503) as llm:
        policy = LLMPolicy(
            LLMConfig(llm.url, "m", attempts=3), instructions="x", first_message="hi"
        )
        with pytest.raises(
            RunnerError,
            match=r"the LLM caller failed: the LLM endpoint failed 3 times \(HTTP 503\)",
        ) as err:
            policy.next_line("hello")
        assert err.value.ended_reason == "Testing agent-pipeline-error"
        assert len(llm.requests) == 3
    with scripted_llm([], status=400) as llm:
        with pytest.raises(RunnerError, match=r"refused the request \(HTTP 400\)"):
            LLMPolicy(LLMConfig(llm.url, "m"), instructions="x", first_message="hi").next_line(
                "hello"
            )
        assert len(llm.requests) == 1


def test_conditional_scenario_against_the_demo_agent(demo_stack: Any, tts: Any, asr: Any) -> None:
    """Conditions listed out of order: each is chosen by what the agent really said."""
    caller = CallerScript(
        first_message="Hi, I would like to book an appointment.",
        scenario_type="conditional_actions",
        conditions=(
            {
                "id": 1,
                "condition": "agent asks if there is anything else",
                "action": "No, that is all, thank you.",
                "fixed_message": True,
            },
            {
                "id": 2,
                "condition": "agent asks which day",
                "action": "Tuesday would be great.",
                "fixed_message": True,
            },
        ),
    )
    outcome = execute_call(replace(spec_for(demo_stack), caller=caller), tts=tts, asr=asr)
    decisions = [e.data for e in outcome.timeline if e.kind == "caller_decision"]
    assert [d["condition_id"] for d in decisions[:2]] == [2, 1] and all(
        d["matched"] for d in decisions[:2]
    )
    heard = [e.data["text"].lower() for e in outcome.timeline if e.kind == "agent_turn_heard"]
    assert "which day" in heard[1] and "anything else" in heard[2]
    assert outcome.ended_reason in (EndedReason.MAIN_AGENT_ENDED, EndedReason.TESTING_AGENT_ENDED)


def test_llm_caller_against_the_demo_agent(demo_stack: Any, tts: Any, asr: Any) -> None:
    with scripted_llm(["Tuesday would be great.", "No, that is all. Goodbye! [END_CALL]"]) as llm:
        spec = replace(
            spec_for(demo_stack),
            caller=CallerScript(
                first_message="Hi, I would like to book an appointment.",
                instructions="Book for Tuesday.",
            ),
            llm=LLMConfig(llm.url, "m"),
            seed=11,
        )
        outcome = execute_call(spec, tts=tts, asr=asr)
        said = [u["text"] for u in outcome.caller_utterances]
        assert said == [
            "Hi, I would like to book an appointment.",
            "Tuesday would be great.",
            "No, that is all. Goodbye!",
        ]
        # The LLM saw the agent's turns as the caller heard them.
        first_user = next(m for m in llm.requests[0]["body"]["messages"] if m["role"] == "user")[
            "content"
        ].lower()
        assert "which day" in first_user
        assert all(r["body"]["seed"] == 11 for r in llm.requests)
    assert outcome.ended_reason in (EndedReason.MAIN_AGENT_ENDED, EndedReason.TESTING_AGENT_ENDED)


def test_same_seed_same_caller_audio_and_each_line_synthesised_once(demo_stack: Any) -> None:
    from agora_runner.speech import PiperTTS

    tts = PiperTTS()
    spec = spec_for(demo_stack, lines=["Hello, when are you open?"])
    runs = [execute_call(spec, tts=tts) for _ in range(2)]

    def utterances(outcome: Any) -> list[np.ndarray]:
        rec = outcome.recording.caller
        return [
            rec[int(u["start"] * 16000) : int(u["end"] * 16000)] for u in outcome.caller_utterances
        ]

    a, b = utterances(runs[0]), utterances(runs[1])
    assert len(a) == len(b) == 2
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert tts.synthesized == 2  # the line and the goodbye, once over both calls
    slow = tts.synthesize("Hello, when are you open?", speed=0.8)
    assert len(slow) > len(tts.synthesize("Hello, when are you open?")) and tts.synthesized == 3
    # Not only the cache: a fresh synthesiser makes the very same samples.
    assert np.array_equal(
        PiperTTS().synthesize("Hello, when are you open?"),
        tts.synthesize("Hello, when are you open?"),
    )


def test_instruction_scenarios_offline_match_the_quoted_lines_by_their_lead_in() -> None:
    from agora_runner.policy import conditions_from_instructions
    from agora_runner.runner import build_policy

    text = 'You want a visit. When asked which day, say "Thursday please." If asked for anything else, answer "No, that is all."'  # noqa: E501
    conds = conditions_from_instructions(text)
    assert [(c.condition, c.action) for c in conds] == [
        ("When asked which day", "Thursday please."),
        ("If asked for anything else", "No, that is all."),
    ]
    policy = build_policy(CallerScript(first_message="Hi.", instructions=text), goodbye="Bye.")
    assert policy.next_line("Is there anything else I can do?").text == "No, that is all."
    assert policy.next_line("Which day suits you?").text == "Thursday please."


def test_non_fixed_actions_are_worded_by_the_llm_when_one_is_set() -> None:
    with scripted_llm(["Could we make it Tuesday morning?"]) as llm:
        policy = ConditionalPolicy(
            "Hi",
            [
                Condition(1, "agent asks which day", "ask for Tuesday", False),
                Condition(2, "agent asks anything else", "No thanks.", True),
            ],
            llm=LLMConfig(llm.url, "m"),
        )
        d = policy.next_line("Which day?")
        assert (d.text, d.meta["rephrased"]) == ("Could we make it Tuesday morning?", True)
        assert "ask for Tuesday" in llm.requests[0]["body"]["messages"][1]["content"]
        assert (
            policy.next_line("Anything else?").text == "No thanks."
        )  # fixed: verbatim, no LLM call
        assert len(llm.requests) == 1

"""Synthesis cannot hold a worker: the voice is shared one sentence at a time, the lines a run
synthesises before joining have a budget and stop when the run is cancelled, and a line longer
than the limit is refused before any of it is synthesised."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agora_runner.errors import RunCancelled, ScenarioError
from agora_runner.runner import check_lines, execute_call, presynthesize
from agora_runner.types import MAX_LINE_CHARS, CallerScript, CallSpec, SessionEndpointConfig

SENTENCES = " ".join(
    f"This is sentence number {n} of a long speech that goes on for a while." for n in range(1, 13)
)


def test_a_short_line_is_not_kept_waiting_behind_a_long_text(tts: Any) -> None:
    """Two calls on one worker: while one synthesises a dozen sentences, the other's short
    line is done before the long text ends (before, the whole text held the voice)."""
    order: list[str] = []
    long_started = threading.Event()
    real = tts._voice.synthesize

    def noted(text: str, **kw: Any) -> Any:  # the real voice; tells the test when it began
        if text == SENTENCES + " (1)":
            long_started.set()
        return real(text, **kw)

    tts._voice.synthesize = noted
    try:
        long = threading.Thread(
            target=lambda: (tts.synthesize(SENTENCES + " (1)"), order.append("long"))
        )
        long.start()
        assert long_started.wait(30)
        tts.synthesize("Hi there, quick question (1).")
        order.append("short")
        long.join(60)
    finally:
        tts._voice.synthesize = real
    assert order == ["short", "long"]


def test_presynthesis_stops_when_the_run_is_cancelled(tts: Any) -> None:
    stop = threading.Event()
    lines = [f"{SENTENCES} ({n})" for n in range(2, 6)]
    before = tts.synthesized
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(RunCancelled, match="cancelled while the caller's lines were synthesised"):
        presynthesize(tts, lines, 1.0, budget=600, stop=stop)
    assert tts.synthesized - before < len(lines)


def test_presynthesis_keeps_to_its_budget_and_leaves_the_rest_for_the_call(tts: Any) -> None:
    before = tts.synthesized
    done = presynthesize(tts, ["Budget line one.", "Budget line two."], 1.0, budget=0.0)
    assert done == 0 and tts.synthesized == before
    assert (
        presynthesize(
            tts, ["Budget line one.", "Budget line one.", "Budget line two."], 1.0, budget=600
        )
        == 2
    )


def test_a_line_over_the_limit_is_refused_before_anything_is_synthesised(tts: Any) -> None:
    check_lines(["x" * MAX_LINE_CHARS])
    huge = "Hello. " * 160_000  # 1.1 MB
    with pytest.raises(
        ScenarioError, match=r"a caller line is 1,120,000 characters long; the limit is 1,000"
    ) as err:
        check_lines(["Hi.", huge])
    assert err.value.infrastructure is False  # the scenario's fault, not ours
    before = tts.synthesized
    spec = CallSpec(
        endpoint=SessionEndpointConfig(
            url="http://127.0.0.1:9/never-called", client_id="c", secret="s"
        ),
        join_uid=1,
        caller=CallerScript(first_message=huge),
    )
    with pytest.raises(ScenarioError):
        execute_call(spec, tts=tts)
    assert tts.synthesized == before


def test_a_model_line_is_clipped_to_the_limit_at_a_sentence() -> None:
    from agora_runner.policy import clip_line

    assert clip_line("Short.") == "Short."
    text = "One sentence here. " * 100
    clipped = clip_line(text)
    assert len(clipped) <= MAX_LINE_CHARS and clipped.endswith("here.")
    assert len(clip_line("word " * 400)) <= MAX_LINE_CHARS

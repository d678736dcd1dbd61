"""One way to ask an LLM judge about a call and read its JSON answer."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from common.llm import LLMConfig, chat

from .base import CallData

_OBJECT = re.compile(r"\{.*\}", re.S)


def transcript_text(call: CallData) -> str:
    return "\n".join(f"{t['role']}: {t['content']}" for t in call.transcript)


def parse_object(content: str) -> dict[str, Any]:
    """The first JSON object in the reply (judges wrap JSON in prose or code fences);
    ValueError when there is none."""
    match = _OBJECT.search(content)
    out = json.loads(match.group(0) if match else content)
    if not isinstance(out, dict):
        raise ValueError("the judge's answer is not a JSON object")
    return out


def ask(
    llm: LLMConfig, system: str, user: str, *, client: httpx.Client | None = None
) -> dict[str, Any]:
    """Raises LLMError (the endpoint failed) or ValueError (the answer is not JSON)."""
    return parse_object(
        chat(
            llm,
            [{"role": "system", "content": system}, {"role": "user", "content": user}],
            client=client,
        )
    )


def ask_about_call(
    llm: LLMConfig, question: str, call: CallData, *, client: httpx.Client | None = None
) -> dict[str, Any]:
    system = f"You review a phone call between a Testing Agent (caller) and a Main Agent. {question} Answer JSON only."  # noqa: E501
    return ask(llm, system, transcript_text(call), client=client)

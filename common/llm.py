"""A small client for any OpenAI-compatible chat endpoint, shared by the caller and the judges.

Transient failures (time-outs, connection errors, 429 and 5xx) are retried with backoff, a
bounded number of times; anything else fails at once. Errors never carry the API key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 30.0
    attempts: int = 3


class LLMError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def chat(
    config: LLMConfig,
    messages: list[dict[str, str]],
    *,
    temperature: float = 0.0,
    seed: int | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """The assistant's reply text; raises LLMError saying what went wrong."""
    body: dict[str, Any] = {"model": config.model, "messages": messages, "temperature": temperature}
    if seed is not None:
        body["seed"] = seed
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    url = config.base_url.rstrip("/") + "/chat/completions"
    http = client or httpx.Client(timeout=config.timeout_seconds)
    last = "no attempt made"
    try:
        for attempt in range(1, config.attempts + 1):
            try:
                resp = http.post(url, json=body, headers=headers)
            except httpx.TimeoutException:
                last = f"no answer within {config.timeout_seconds:g} s"
            except httpx.TransportError as exc:
                last = f"could not connect ({exc.__class__.__name__})"
            else:
                if resp.status_code == 200:
                    try:
                        return str(resp.json()["choices"][0]["message"]["content"])
                    except (ValueError, KeyError, IndexError, TypeError) as exc:
                        raise LLMError("the LLM answered in an unexpected shape") from exc
                last = f"HTTP {resp.status_code}"
                if resp.status_code != 429 and resp.status_code < 500:
                    raise LLMError(f"the LLM endpoint refused the request ({last})")
            if attempt < config.attempts:
                sleep(0.5 * 2 ** (attempt - 1))
    finally:
        if client is None:
            http.close()
    raise LLMError(f"the LLM endpoint failed {config.attempts} times ({last})")

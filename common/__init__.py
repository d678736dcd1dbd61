"""Plain Python that both plain libraries use (agora_runner, which holds the call, and
evaluators, which score it): the product's vocabulary, the LLM client, WAV and text helpers.
It imports neither of them, nor Django."""

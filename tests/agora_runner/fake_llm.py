"""A small OpenAI-compatible chat server for tests: it answers from a script and keeps what
it was sent. It stands at the outside edge (an LLM endpoint we do not own)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedLLM:
    def __init__(self, replies: list[str], status: int = 200) -> None:
        self.replies = list(replies)
        self.status = status
        self.requests: list[dict[str, Any]] = []
        self.url = ""


@contextmanager
def scripted_llm(replies: list[str], status: int = 200) -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM(replies, status)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            llm.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
            )
            if llm.status != 200:
                self.send_response(llm.status)
                self.end_headers()
                return
            text = llm.replies.pop(0) if llm.replies else "Goodbye. [END_CALL]"
            data = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": text}}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    llm.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield llm
    finally:
        server.shutdown()
        server.server_close()

"""The demo stack in one process: local channel, demo session endpoint, demo agents.

The session endpoint follows the contract: POST JSON {"client_id"} or GET ?client_id=, the
secret in `X-Cekura-Secret`. Each call opens a fresh channel, mints a token for the caller's
join uid and one for the agent with `agora-agents`, starts the agent, and answers the join
details. Knobs ride on the endpoint URL's query:
- `delay_ms`, `fault` (never_join, leave_mid_call, silent, talk_over), `leave_after`, `join_uid`;
- `encryption=<mode name>`: an encrypted channel (fresh key and salt per session);
  `agent_key=<key>` makes the agent use another key (a mismatch, for tests);
- `latency_ms`, `jitter_ms`, `loss`, `seed`: seeded network conditions on the agent's uplink;
- `calibrate=200,800,1500`: calibration mode, one fixed answer sent exactly D ms after the
  caller's last voiced frame arrives, D cycling through the list (each 200–2500 ms).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from common.vocabulary import DEFAULT_SECRET_HEADER

from .. import loop as event_loop
from ..channel.network import FIELDS, NetworkConditions
from ..channel.server import ChannelServer
from ..session import ENCRYPTION_MODES
from ..speech import Synthesizer, Transcriber
from ..tokens import mint_rtc_token
from ..types import EncryptionConfig, JoinDetails
from .agent import AgentKnobs, DemoAgent
from .defaults import DEMO_AGENT_UID, DEMO_APP_CERTIFICATE, DEMO_APP_ID, DEMO_CLIENT_ID, DEMO_SECRET

log = logging.getLogger(__name__)
FAULTS = ("never_join", "leave_mid_call", "silent", "talk_over")


class KnobError(ValueError):
    pass


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def channel_from_query(
    query: dict[str, list[str]],
) -> tuple[EncryptionConfig | None, str | None, NetworkConditions | None]:
    """(the channel's encryption, the agent's own key if it differs, the agent's network)."""
    encryption = None
    mode_name = _one(query, "encryption")
    if mode_name:
        mode = ENCRYPTION_MODES.get(mode_name.lower())
        if mode is None:
            raise KnobError(f"encryption must be one of {', '.join(ENCRYPTION_MODES)}")
        encryption = EncryptionConfig(
            mode_name.lower(), mode, secrets.token_hex(16), os.urandom(32)
        )
    try:
        network = NetworkConditions.from_dict({k: _one(query, k) for k in FIELDS if _one(query, k)})
    except ValueError as exc:
        raise KnobError(f"network knobs: {exc}") from exc
    return encryption, _one(query, "agent_key"), network


def knobs_from_query(query: dict[str, list[str]]) -> tuple[AgentKnobs, int]:
    def one(name: str) -> str | None:
        return _one(query, name)

    try:
        delay = int(one("delay_ms") or 0)
        join_uid = int(one("join_uid") or 1)
        leave = one("leave_after")
        leave_after = float(leave) if leave else None
    except ValueError as exc:
        raise KnobError("delay_ms, join_uid and leave_after must be numbers") from exc
    try:
        calibrate = tuple(int(v) for v in (one("calibrate") or "").split(",") if v.strip())
    except ValueError as exc:
        raise KnobError("calibrate must be a comma-separated list of delays in ms") from exc
    if any(not 200 <= d <= 2500 for d in calibrate):
        raise KnobError("calibrate delays must each be 200–2500 ms")
    fault = one("fault")
    if fault and fault not in FAULTS:
        raise KnobError(f"fault must be one of {', '.join(FAULTS)}")
    if fault == "leave_mid_call" and leave_after is None:
        leave_after = 6.0
    return (
        AgentKnobs(
            response_delay_ms=max(0, delay),
            never_join=fault == "never_join",
            silent=fault == "silent",
            talk_over=fault == "talk_over",
            leave_after_seconds=leave_after,
            calibrate_ms=calibrate,
        ),
        join_uid,
    )


class DemoStack:
    def __init__(
        self,
        *,
        tts: Synthesizer,
        asr: Transcriber,
        host: str = "127.0.0.1",
        channel_port: int = 0,
        endpoint_port: int = 0,
        app_id: str = DEMO_APP_ID,
        app_certificate: str = DEMO_APP_CERTIFICATE,
        client_id: str = DEMO_CLIENT_ID,
        secret: str = DEMO_SECRET,
        secret_header: str = DEFAULT_SECRET_HEADER,
    ) -> None:
        self.tts, self.asr = tts, asr
        self.host = host
        self.app_id, self.app_certificate = app_id, app_certificate
        self.client_id, self.secret, self.secret_header = client_id, secret, secret_header
        self.channel = ChannelServer({app_id: app_certificate}, host, channel_port)
        self.endpoint_port = endpoint_port
        self.agents: list[DemoAgent] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: ThreadingHTTPServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def channel_address(self) -> str:
        return f"{self.host}:{self.channel.port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.endpoint_port}/session"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.channel.start()
        self._http = ThreadingHTTPServer((self.host, self.endpoint_port), _handler_for(self))
        self._http.daemon_threads = True
        self.endpoint_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="demo-endpoint", daemon=True).start()

    async def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.channel.stop()

    def open_session(
        self,
        knobs: AgentKnobs,
        join_uid: int,
        encryption: EncryptionConfig | None = None,
        agent_key: str | None = None,
        network: NetworkConditions | None = None,
        variables: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Open a fresh channel, start an agent in it, return the join details for the caller.
        `variables`: the request's agent_variables, which the agent reads (its greeting)."""
        channel = "demo-" + secrets.token_hex(8)
        caller_token = mint_rtc_token(
            app_id=self.app_id, app_certificate=self.app_certificate, channel=channel, uid=join_uid
        )
        agent_token = mint_rtc_token(
            app_id=self.app_id,
            app_certificate=self.app_certificate,
            channel=channel,
            uid=DEMO_AGENT_UID,
        )
        agent_encryption = encryption
        if encryption is not None and agent_key:
            agent_encryption = replace(encryption, key=agent_key)
        agent = DemoAgent(
            address=self.channel_address,
            join=JoinDetails(self.app_id, channel, agent_token, DEMO_AGENT_UID, agent_encryption),
            knobs=knobs,
            tts=self.tts,
            asr=self.asr,
            network=network,
            variables=variables,
        )
        self.agents.append(agent)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._spawn, agent)
        answer = {
            "agora_app_id": self.app_id,
            "agora_channel": channel,
            "agora_token": caller_token,
        }
        if encryption is not None:
            answer["encryption_mode"] = encryption.mode_name
            answer["encryption_key"] = encryption.key
            answer["encryption_salt"] = base64.b64encode(encryption.salt or b"").decode()
        return answer

    def _spawn(self, agent: DemoAgent) -> None:
        task = asyncio.create_task(self._run_agent(agent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_agent(self, agent: DemoAgent) -> None:
        try:
            await agent.run()
        except Exception:  # one agent failing must not take the stack down
            log.exception("demo agent failed")


class _SessionHandler(BaseHTTPRequestHandler):
    """The demo session endpoint's requests; `stack` is set by _handler_for."""

    stack: DemoStack

    def log_message(self, format: str, *args: Any) -> None:  # quiet; never log headers
        log.debug("demo endpoint: %s", format % args)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, client_id: Any, query: dict[str, list[str]], variables: Any = None) -> None:
        if urlparse(self.path).path.rstrip("/") != "/session":
            return self._answer(404, {"error": "not found"})
        given = self.headers.get(self.stack.secret_header, "")
        if not hmac.compare_digest(given.encode(), self.stack.secret.encode()):
            return self._answer(401, {"error": f"missing or wrong {self.stack.secret_header}"})
        if client_id != self.stack.client_id:
            return self._answer(403, {"error": "unknown client_id"})
        try:
            knobs, join_uid = knobs_from_query(query)
            encryption, agent_key, network = channel_from_query(query)
        except KnobError as exc:
            return self._answer(400, {"error": str(exc)})
        if variables is not None and not isinstance(variables, dict):
            return self._answer(400, {"error": "agent_variables must be a JSON object"})
        self._answer(
            200, self.stack.open_session(knobs, join_uid, encryption, agent_key, network, variables)
        )

    def do_GET(self) -> None:  # noqa: N802
        query = parse_qs(urlparse(self.path).query)
        raw = (query.get("agent_variables") or [""])[-1]
        try:
            variables = json.loads(raw) if raw else None
        except ValueError:
            return self._answer(400, {"error": "agent_variables must be JSON"})
        self._serve((query.get("client_id") or [""])[-1] or None, query, variables)

    def do_POST(self) -> None:  # noqa: N802
        query = parse_qs(urlparse(self.path).query)
        try:
            length = min(int(self.headers.get("Content-Length", "0")), 65536)
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._answer(400, {"error": "body must be JSON"})
        if not isinstance(body, dict):
            body = {}
        self._serve(body.get("client_id"), query, body.get("agent_variables"))


def _handler_for(stack: DemoStack) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_SessionHandler,), {"stack": stack})


class ThreadedDemoStack:
    """The demo stack on its own event loop in a thread, for tests and benchmarks that drive
    calls from the main thread."""

    def __init__(self, tts: Synthesizer, asr: Transcriber) -> None:
        self.stack = DemoStack(tts=tts, asr=asr)
        self.loop = event_loop.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.stack.start())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> ThreadedDemoStack:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the demo stack did not start within 60 s")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stack.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

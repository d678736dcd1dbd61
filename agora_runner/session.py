"""Calls a user's session endpoint for fresh join details and checks the answer.

Contract (spec/agora-simulations.md): POST JSON {"client_id"} (or GET ?client_id=), the secret
in the configured header (our extension: a spec case's `agent_variables` beside client_id);
the answer carries agora_app_id, agora_channel, agora_token and optionally encryption_mode /
encryption_key / encryption_salt. Error messages say what was
wrong and never contain the secret, the token or a key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import httpx

from .errors import SessionEndpointError
from .netguard import check_destination, pinned
from .types import EncryptionConfig, JoinDetails, SessionEndpointConfig

ENCRYPTION_MODES = {
    "aes_128_xts": 1,
    "aes_128_ecb": 2,
    "aes_256_xts": 3,
    "sm4_128_ecb": 4,
    "aes_128_gcm": 5,
    "aes_256_gcm": 6,
    "aes_128_gcm2": 7,
    "aes_256_gcm2": 8,
}
GCM2_MODES = {7, 8}
REQUIRED_FIELDS = ("agora_app_id", "agora_channel", "agora_token")
MAX_RESPONSE_BYTES = 64 * 1024


def _describe_status(code: int) -> str:
    if code in (401, 403):
        return f"session endpoint refused the credentials (HTTP {code}): check the client id and secret"  # noqa: E501
    if code == 404:
        return "session endpoint answered HTTP 404: check the Session Endpoint URL"
    if code == 405:
        return "session endpoint answered HTTP 405: check the Request Method (POST or GET)"
    return f"session endpoint answered HTTP {code}"


def parse_join_details(body: Any, *, join_uid: int) -> JoinDetails:
    """Validate a session-endpoint answer; raise SessionEndpointError naming every problem."""
    if not isinstance(body, dict):
        raise SessionEndpointError("session endpoint answer must be a JSON object")
    problems: list[str] = []
    missing = [
        f for f in REQUIRED_FIELDS if not isinstance(body.get(f), str) or not str(body[f]).strip()
    ]
    if missing:
        problems.append("missing or empty " + ", ".join(missing))
    encryption = _encryption(body, problems)
    if problems:
        raise SessionEndpointError("session endpoint answer is invalid: " + "; ".join(problems))
    return JoinDetails(
        app_id=body["agora_app_id"].strip(),
        channel=body["agora_channel"].strip(),
        token=body["agora_token"].strip(),
        uid=join_uid,
        encryption=encryption,
    )


def _encryption(body: dict[str, Any], problems: list[str]) -> EncryptionConfig | None:
    """The answer's encryption settings, if it names a mode; what is wrong with them goes to
    `problems` (and then there are none)."""
    mode_name = body.get("encryption_mode")
    if mode_name in (None, ""):
        if body.get("encryption_key") or body.get("encryption_salt"):
            problems.append("encryption_key/encryption_salt given without encryption_mode")
        return None
    mode = ENCRYPTION_MODES.get(str(mode_name).lower()) if isinstance(mode_name, str) else None
    if mode is None:
        problems.append(
            f"encryption_mode {str(mode_name)[:40]!r} is not a known Agora mode "
            f"(one of {', '.join(ENCRYPTION_MODES)})"
        )
    key = body.get("encryption_key")
    if not isinstance(key, str) or not key:
        problems.append("encryption_key is required when encryption_mode is set")
    salt_text = body.get("encryption_salt")
    salt = _salt(salt_text, problems) if salt_text not in (None, "") else None
    if mode in GCM2_MODES and salt_text in (None, ""):
        problems.append(f"encryption_salt is required for {mode_name}")
    if problems or mode is None:
        return None
    return EncryptionConfig(mode_name=str(mode_name).lower(), mode=mode, key=str(key), salt=salt)


def _salt(text: Any, problems: list[str]) -> bytes | None:
    try:
        salt = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        problems.append("encryption_salt is not valid base64")
        return None
    if len(salt) != 32:
        problems.append(f"encryption_salt must decode to 32 bytes, not {len(salt)}")
    elif not any(salt):
        problems.append("encryption_salt must not be all zero bytes")
    return salt


def fetch_join_details(
    config: SessionEndpointConfig, *, join_uid: int, client: httpx.AsyncClient | None = None
) -> JoinDetails:
    """Call the session endpoint once, within `config.deadline_seconds` in all (connecting,
    sending, and the whole answer: an endpoint that drips one byte a second is cut off), and
    return checked join details."""
    return asyncio.run(fetch_join_details_async(config, join_uid=join_uid, client=client))


async def fetch_join_details_async(
    config: SessionEndpointConfig, *, join_uid: int, client: httpx.AsyncClient | None = None
) -> JoinDetails:
    try:
        return await asyncio.wait_for(_fetch(config, join_uid, client), config.deadline_seconds)
    except TimeoutError:
        raise SessionEndpointError(
            f"session endpoint did not answer within {config.deadline_seconds:g} s", permanent=False
        ) from None


async def _fetch(
    config: SessionEndpointConfig, join_uid: int, client: httpx.AsyncClient | None
) -> JoinDetails:
    method = config.method.upper()
    if method not in ("POST", "GET"):
        raise SessionEndpointError(f"request method must be POST or GET, not {config.method!r}")
    url, headers, extensions = await _destination(config)
    timeout = httpx.Timeout(config.timeout_seconds, connect=min(5.0, config.timeout_seconds))
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    try:
        if method == "POST":
            payload: dict[str, Any] = {"client_id": config.client_id}
            if config.agent_variables:
                payload["agent_variables"] = config.agent_variables
            request = http.build_request(
                "POST", url, json=payload, headers=headers, timeout=timeout, extensions=extensions
            )
        else:
            params = {"client_id": config.client_id}
            if config.agent_variables:
                params["agent_variables"] = json.dumps(
                    config.agent_variables, separators=(",", ":")
                )
            request = http.build_request(
                "GET", url, params=params, headers=headers, timeout=timeout, extensions=extensions
            )
        status, body = await _exchange(http, request, config)
    finally:
        if own_client:
            await http.aclose()
    return parse_join_details(_answer(status, body), join_uid=join_uid)


async def _destination(config: SessionEndpointConfig) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL, headers, request extensions) to reach the endpoint: with an allow-list set, the
    host is resolved and checked first (off the loop: a DNS lookup blocks), and the request
    goes to the address that was checked, not to a fresh lookup; the Host header and TLS (SNI,
    certificate) still name the host."""
    ip = None
    if config.allow_hosts is not None:
        ip = await asyncio.to_thread(check_destination, config.url, config.allow_hosts)
    url, headers, extensions = pinned(config.url, ip)
    headers.update({config.header_name: config.secret, "Accept": "application/json"})
    return url, headers, extensions


async def _exchange(
    http: httpx.AsyncClient, request: httpx.Request, config: SessionEndpointConfig
) -> tuple[int, bytes]:
    """Send the request and read the answer, at most MAX_RESPONSE_BYTES; every way it can
    fail becomes a SessionEndpointError in words."""
    try:
        response = await http.send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise SessionEndpointError(
                        f"session endpoint answer is larger than {MAX_RESPONSE_BYTES // 1024} KiB"
                    )
                chunks.append(chunk)
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        raise SessionEndpointError(
            f"session endpoint did not answer within {config.timeout_seconds:g} s", permanent=False
        ) from exc
    except httpx.InvalidURL as exc:
        raise SessionEndpointError("session endpoint URL is not a valid http(s) URL") from exc
    except httpx.UnsupportedProtocol as exc:
        raise SessionEndpointError(
            "session endpoint URL must start with http:// or https://"
        ) from exc
    except httpx.TransportError as exc:
        raise SessionEndpointError(
            f"could not connect to the session endpoint ({exc.__class__.__name__})", permanent=False
        ) from exc
    return response.status_code, b"".join(chunks)


def _answer(status: int, body: bytes) -> Any:
    """The JSON of a 200 answer; a redirect, another status or a body that is not JSON is a
    SessionEndpointError saying so."""
    if 300 <= status < 400:
        raise SessionEndpointError(
            f"session endpoint answered a redirect (HTTP {status}); redirects are not followed"
        )
    if status != 200:
        raise SessionEndpointError(_describe_status(status), permanent=status < 500)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SessionEndpointError("session endpoint answer is not valid JSON") from exc

"""AccessToken2 (`007…`): mint through `agora-agents`, verify with our own parser.

Layout (all integers little-endian), from spec/agora-facts.md:
    token        = "007" + base64(zlib.compress(string(signature) + signing_info))
    signing_info = string(app_id) + u32 issue_ts + u32 expire + u32 salt + u16 n + services
    rtc service  = u16 type=1 + map{privilege: seconds} + string(channel) + string(uid)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
import zlib
from dataclasses import dataclass, field

VERSION = "007"
SERVICE_RTC = 1
PRIV_JOIN_CHANNEL = 1
PRIV_PUBLISH_AUDIO = 2
PRIV_PUBLISH_VIDEO = 3
PRIV_PUBLISH_DATA = 4
# Services whose payload after the privilege map is a single string (RTM, chat).
_ONE_STRING_SERVICES = {2, 5}
_MAP_ONLY_SERVICES = {4}


MAX_TOKEN_BYTES = 16 * 1024


class TokenError(ValueError):
    """The token is refused; the message says why in plain words (never the token itself)."""


@dataclass
class RtcService:
    privileges: dict[int, int]
    channel: str
    uid: str


@dataclass
class AccessToken2:
    signature: bytes = field(repr=False)
    signing_info: bytes = field(repr=False)
    app_id: str
    issue_ts: int
    expire: int
    salt: int
    rtc: RtcService | None

    @property
    def expires_at(self) -> int:
        return self.issue_ts + self.expire


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise TokenError("token is malformed (truncated)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.u16())

    def map_u32(self) -> dict[int, int]:
        return {self.u16(): self.u32() for _ in range(self.u16())}


def parse(token: str) -> AccessToken2:
    """Decode a `007` token's fields without checking its signature."""
    if not isinstance(token, str) or not token.startswith(VERSION):
        raise TokenError("token is not an AccessToken2 (it must start with 007)")
    try:
        inflate = zlib.decompressobj()
        # A real token inflates to a few hundred bytes: a "zip bomb" is refused, not inflated.
        raw = inflate.decompress(base64.b64decode(token[3:], validate=True), MAX_TOKEN_BYTES)
        if inflate.unconsumed_tail or not inflate.eof:
            raise TokenError("token is malformed (too large or truncated)")
    except (binascii.Error, zlib.error, ValueError) as exc:
        if isinstance(exc, TokenError):
            raise
        raise TokenError("token is malformed (not base64 of zlib data)") from exc
    outer = _Reader(raw)
    signature = outer.string()
    signing_info = raw[outer.pos :]
    r = _Reader(signing_info)
    app_id = r.string().decode("utf-8", "replace")
    issue_ts, expire, salt = r.u32(), r.u32(), r.u32()
    rtc = None
    for _ in range(r.u16()):
        kind = r.u16()
        privileges = r.map_u32()
        if kind == SERVICE_RTC:
            channel = r.string().decode("utf-8", "replace")
            uid = r.string().decode("utf-8", "replace")
            rtc = RtcService(privileges=privileges, channel=channel, uid=uid)
        elif kind in _ONE_STRING_SERVICES:
            r.string()
        elif kind in _MAP_ONLY_SERVICES:
            pass
        else:
            raise TokenError(f"token carries an unsupported service type {kind}")
    if r.pos != len(signing_info):
        raise TokenError("token is malformed (trailing bytes)")
    return AccessToken2(signature, signing_info, app_id, issue_ts, expire, salt, rtc)


def _signature(app_certificate: str, issue_ts: int, salt: int, signing_info: bytes) -> bytes:
    key = hmac.new(struct.pack("<I", issue_ts), app_certificate.encode(), hashlib.sha256).digest()
    key = hmac.new(struct.pack("<I", salt), key, hashlib.sha256).digest()
    return hmac.new(key, signing_info, hashlib.sha256).digest()


def verify_rtc_join(
    token: str,
    *,
    app_id: str,
    app_certificate: str,
    channel: str,
    uid: int | str,
    now: float | None = None,
    need_publish_audio: bool = False,
) -> AccessToken2:
    """Check that `token` lets `uid` join `channel` of `app_id` now; raise TokenError why not."""
    tok = parse(token)
    if not hmac.compare_digest(
        tok.signature, _signature(app_certificate, tok.issue_ts, tok.salt, tok.signing_info)
    ):
        raise TokenError(
            "token signature is invalid (not signed with this app's certificate, or altered)"
        )
    if tok.app_id != app_id:
        raise TokenError("token was issued for another app id")
    now_ts = int(time.time() if now is None else now)
    if tok.expire and now_ts > tok.issue_ts + tok.expire:
        raise TokenError("token has expired")
    if tok.rtc is None:
        raise TokenError("token carries no RTC privileges")
    if tok.rtc.channel != channel:
        raise TokenError(f"token is for another channel, not {channel!r}")
    if tok.rtc.uid not in ("", str(uid)):
        raise TokenError(f"token is for uid {tok.rtc.uid}, not uid {uid}")
    needed = [PRIV_JOIN_CHANNEL] + ([PRIV_PUBLISH_AUDIO] if need_publish_audio else [])
    for priv in needed:
        if priv not in tok.rtc.privileges:
            name = "join channel" if priv == PRIV_JOIN_CHANNEL else "publish audio"
            raise TokenError(f"token lacks the {name} privilege")
        seconds = tok.rtc.privileges[priv]
        if seconds and now_ts > tok.issue_ts + seconds:
            raise TokenError("token's join privilege has expired")
    return tok


def mint_rtc_token(
    *, app_id: str, app_certificate: str, channel: str, uid: int, expiry_seconds: int = 3600
) -> str:
    """Mint a publisher token with Agora's own `agora-agents` package (uid 0 = any uid)."""
    from agora_agent.agentkit.token import generate_rtc_token

    return generate_rtc_token(app_id, app_certificate, channel, uid, expiry_seconds=expiry_seconds)

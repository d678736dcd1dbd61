"""Checks a user's session endpoint the way a run uses it, and says what is wrong in plain words.

Without the app certificate a token's signature cannot be checked here, but everything else in
it can: its format, app id, channel, uid, expiry and privileges. With `join_seconds` the check
also joins the channel and reports whether an agent appeared and spoke.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from . import loop
from .audio import VoiceDetector
from .errors import RunnerError
from .session import fetch_join_details
from .tokens import PRIV_JOIN_CHANNEL, PRIV_PUBLISH_AUDIO, TokenError, parse
from .transports import select_transport
from .transports.base import Disconnected, EncryptionFailure, RemoteAudio, UserJoined
from .types import JoinDetails, SessionEndpointConfig

# A run lasts up to this long by default; a token that expires sooner may end a call early.
TYPICAL_CALL_SECONDS = 300


@dataclass
class Finding:
    level: str  # "ok" | "warn" | "fail"
    message: str

    def line(self) -> str:
        return f"{self.level.upper():4} {self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, level: str, message: str) -> None:
        self.findings.append(Finding(level, message))

    @property
    def ok(self) -> bool:
        return all(f.level != "fail" for f in self.findings)


def check_token(join: JoinDetails, report: Report, *, now: float | None = None) -> None:
    now_ts = time.time() if now is None else now
    try:
        tok = parse(join.token)
    except TokenError as exc:
        report.add("fail", f"agora_token: {exc}")
        return
    report.add("ok", "agora_token is an AccessToken2 (007…)")
    if tok.app_id != join.app_id:
        report.add("fail", "agora_token was issued for another app id than agora_app_id")
    if tok.expire and now_ts > tok.expires_at:
        report.add("fail", f"agora_token expired {int(now_ts - tok.expires_at)} s ago")
    elif tok.expire and tok.expires_at - now_ts < TYPICAL_CALL_SECONDS:
        report.add(
            "warn",
            f"agora_token expires in {int(tok.expires_at - now_ts)} s, less than a typical call",
        )
    if tok.rtc is None:
        report.add("fail", "agora_token carries no RTC privileges")
        return
    if tok.rtc.channel != join.channel:
        report.add(
            "fail",
            f"agora_token is for channel {tok.rtc.channel!r}, not agora_channel {join.channel!r}",
        )
    if tok.rtc.uid not in ("", str(join.uid)):
        report.add(
            "fail", f"agora_token is for uid {tok.rtc.uid}, not uid {join.uid} (the uid we join as)"
        )
    else:
        report.add(
            "ok", f"agora_token admits uid {join.uid}" + (" (any uid)" if tok.rtc.uid == "" else "")
        )
    for priv, name, level in (
        (PRIV_JOIN_CHANNEL, "join channel", "fail"),
        (PRIV_PUBLISH_AUDIO, "publish audio", "warn"),
    ):
        seconds = tok.rtc.privileges.get(priv)
        if seconds is None:
            report.add(level, f"agora_token lacks the {name} privilege")
        elif seconds and now_ts > tok.issue_ts + seconds:
            report.add(level, f"agora_token's {name} privilege has expired")


async def _join(
    join: JoinDetails,
    seconds: float,
    local_app_ids: tuple[str, ...],
    local_address: str,
    report: Report,
) -> None:
    transport = select_transport(join, local_app_ids=local_app_ids, local_address=local_address)
    try:
        present = await transport.connect(join)
    except RunnerError as exc:
        report.add("fail", f"join: {exc.message}")
        return
    start = time.monotonic()
    report.add(
        "ok",
        f"joined channel {join.channel!r} as uid {join.uid} over the {transport.name} transport",
    )
    detector = VoiceDetector()
    joined_at = 0.0 if present else None
    agent: int | None = present[0] if present else None
    spoke_at: float | None = None
    failures = 0
    deadline = start + seconds
    try:
        while time.monotonic() < deadline and spoke_at is None:
            try:
                ev = await asyncio.wait_for(
                    transport.events.get(), max(0.01, deadline - time.monotonic())
                )
            except TimeoutError:
                break
            if isinstance(ev, UserJoined) and joined_at is None:
                joined_at, agent = ev.t - start, ev.uid
            elif isinstance(ev, RemoteAudio):
                if agent is None:
                    joined_at, agent = ev.t - start, ev.uid
                if ev.uid == agent and detector.is_speech(ev.pcm):
                    spoke_at = ev.t - start
            elif isinstance(ev, EncryptionFailure):
                failures += 1
            elif isinstance(ev, Disconnected):
                break
    finally:
        await transport.disconnect()
    _report_agent(report, agent, joined_at, spoke_at, failures, seconds)


def _report_agent(
    report: Report,
    agent: int | None,
    joined_at: float | None,
    spoke_at: float | None,
    failures: int,
    seconds: float,
) -> None:
    if agent is None:
        report.add("fail", f"no agent joined the channel within {seconds:g} s")
        return
    report.add(
        "ok", f"agent uid {agent} was in the channel after {max(0.0, joined_at or 0.0):.1f} s"
    )
    if spoke_at is not None:
        report.add("ok", f"agent spoke after {spoke_at:.1f} s")
    elif failures:
        report.add(
            "fail",
            "the agent's audio could not be decrypted: encryption mode, key or salt differ",
        )
    else:
        report.add("fail", f"the agent did not speak within {seconds:g} s")


def check_endpoint(
    config: SessionEndpointConfig,
    *,
    join_uid: int = 1,
    join_seconds: float | None = None,
    local_app_ids: tuple[str, ...] = (),
    local_address: str = "127.0.0.1:7788",
    now: float | None = None,
) -> Report:
    report = Report()
    try:
        join = fetch_join_details(config, join_uid=join_uid)
    except RunnerError as exc:
        report.add("fail", exc.message)
        return report
    report.add(
        "ok",
        f"session endpoint answered the contract: app id {join.app_id}, channel {join.channel!r}",
    )
    report.add(
        "ok", f"encryption: {join.encryption.mode_name}" if join.encryption else "encryption: none"
    )
    check_token(join, report, now=now)
    if join_seconds and report.ok:
        loop.run(_join(join, join_seconds, local_app_ids, local_address, report))
    return report

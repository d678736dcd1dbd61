from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from agora_runner.audio import FRAME_BYTES
from agora_runner.channel.server import ChannelServer
from agora_runner.errors import JoinError
from agora_runner.tokens import mint_rtc_token
from agora_runner.transports.base import RemoteAudio, UserJoined, UserLeft
from agora_runner.transports.local import LocalChannelTransport
from agora_runner.types import JoinDetails

APP, CERT = "ab" * 16, "cd" * 16


def join(channel: str, uid: int, token_uid: int | None = None, cert: str = CERT) -> JoinDetails:
    token = mint_rtc_token(
        app_id=APP,
        app_certificate=cert,
        channel=channel,
        uid=uid if token_uid is None else token_uid,
    )
    return JoinDetails(APP, channel, token, uid)


async def next_event(t: LocalChannelTransport, kind: type) -> object:
    while True:
        ev = await asyncio.wait_for(t.events.get(), 5)
        if isinstance(ev, kind):
            return ev


def test_members_join_relay_frames_and_see_each_other_leave() -> None:
    async def scenario() -> None:
        server = ChannelServer({APP: CERT})
        await server.start()
        addr = f"127.0.0.1:{server.port}"
        a, b = LocalChannelTransport(addr), LocalChannelTransport(addr)
        assert await a.connect(join("room", 1)) == []
        assert await b.connect(join("room", 1000)) == [1]
        assert (await next_event(a, UserJoined)).uid == 1000  # type: ignore[attr-defined]
        frame = bytes(range(256)) + bytes(FRAME_BYTES - 256)
        await a.send(frame)
        got = await next_event(b, RemoteAudio)
        assert (got.uid, got.pcm) == (1, frame)  # type: ignore[attr-defined]
        assert server.members(APP, "room") == [1, 1000]
        await b.disconnect()
        left = await next_event(a, UserLeft)
        assert left.uid == 1000  # type: ignore[attr-defined]
        await a.disconnect()
        await server.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        (lambda: join("room", 1, token_uid=2), "token is for uid 2, not uid 1"),
        (lambda: join("room", 1, cert="ef" * 16), "signature is invalid"),
        (lambda: JoinDetails(APP, "other", join("room", 1).token, 1), "another channel"),
        (
            lambda: JoinDetails("99" * 16, "room", join("room", 1).token, 1),
            "does not serve that app id",
        ),
    ],
)
def test_bad_joins_are_refused_with_a_clear_reason(details, reason: str) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        server = ChannelServer({APP: CERT})
        await server.start()
        t = LocalChannelTransport(f"127.0.0.1:{server.port}")
        with pytest.raises(JoinError, match=reason):
            await t.connect(details())
        await server.stop()

    asyncio.run(scenario())


def test_unreachable_channel_is_a_transient_join_error() -> None:
    async def scenario() -> None:
        t = LocalChannelTransport("127.0.0.1:9")
        with pytest.raises(JoinError, match="could not reach") as err:
            await t.connect(join("room", 1))
        assert err.value.permanent is False

    asyncio.run(scenario())


def _enc(key: str = "k1", mode: str = "aes_256_gcm2", salt: bytes = bytes(range(1, 33))) -> Any:
    from agora_runner.session import ENCRYPTION_MODES
    from agora_runner.types import EncryptionConfig

    return EncryptionConfig(mode, ENCRYPTION_MODES[mode], key, salt)


@pytest.mark.parametrize(
    ("listener_enc", "hears"),
    [
        (lambda: _enc(), True),
        (lambda: _enc(key="k2"), False),
        (lambda: _enc(mode="aes_128_gcm2"), False),
        (lambda: _enc(salt=bytes(range(2, 34))), False),
        (lambda: None, False),
    ],
)
def test_encrypted_channel_only_same_mode_key_and_salt_hear(listener_enc: Any, hears: bool) -> None:
    from dataclasses import replace

    from agora_runner.transports.base import EncryptionFailure

    async def scenario() -> None:
        server = ChannelServer({APP: CERT})
        await server.start()
        addr = f"127.0.0.1:{server.port}"
        speaker, listener = LocalChannelTransport(addr), LocalChannelTransport(addr)
        await speaker.connect(replace(join("room", 1), encryption=_enc()))
        await listener.connect(replace(join("room", 2), encryption=listener_enc()))
        frame = bytes(range(256)) + bytes(FRAME_BYTES - 256)
        await speaker.send(frame)
        ev = await next_event(listener, RemoteAudio if hears else EncryptionFailure)
        assert ev.uid == 1  # type: ignore[attr-defined]
        if hears:
            assert ev.pcm == frame  # type: ignore[attr-defined]
        await speaker.disconnect()
        await listener.disconnect()
        await server.stop()

    asyncio.run(scenario())


def test_network_conditions_delay_drop_and_replay_from_the_seed() -> None:
    import time

    from agora_runner.channel.network import Impairment, NetworkConditions

    cond = NetworkConditions(latency_ms=120, jitter_ms=10, loss=0.2, seed=42)
    a, b = Impairment(cond), Impairment(cond)
    seq = [a.next_delay() for _ in range(500)]
    assert seq == [b.next_delay() for _ in range(500)]
    drops = sum(d is None for d in seq)
    assert 70 <= drops <= 130  # 20 % of 500
    assert all(d >= 0.12 for d in seq if d is not None)

    async def scenario() -> tuple[list[int], float]:
        server = ChannelServer({APP: CERT})
        await server.start()
        addr = f"127.0.0.1:{server.port}"
        sender = LocalChannelTransport(
            addr, network=NetworkConditions(latency_ms=150, loss=0.3, seed=7)
        )
        receiver = LocalChannelTransport(addr)
        await receiver.connect(join("room", 2))
        await sender.connect(join("room", 1))
        t0 = time.monotonic()
        for i in range(60):
            await sender.send(bytes([i]) * FRAME_BYTES)
            await asyncio.sleep(0.01)
        got: list[int] = []
        first = None
        while True:
            try:
                ev = await asyncio.wait_for(receiver.events.get(), 1.0)
            except TimeoutError:
                break
            if isinstance(ev, RemoteAudio):
                first = first or ev.t
                got.append(ev.pcm[0])
        await sender.disconnect()
        await receiver.disconnect()
        await server.stop()
        return got, (first or t0) - t0

    got1, delay = asyncio.run(scenario())
    got2, _ = asyncio.run(scenario())
    assert got1 == got2 and got1 == sorted(got1)  # same seed, same drops; order kept
    assert 25 <= len(got1) <= 55
    assert delay >= 0.15


def test_invalid_network_conditions_are_refused() -> None:
    from agora_runner.channel.network import NetworkConditions

    with pytest.raises(ValueError):
        NetworkConditions(loss=1.5)
    with pytest.raises(ValueError, match="unknown network condition"):
        NetworkConditions.parse("latency=5")
    assert NetworkConditions.parse(
        "latency_ms=80,jitter_ms=20,loss=0.02,seed=7"
    ) == NetworkConditions(80, 20, 0.02, 7)


def test_an_opus_uplink_carries_the_audio_and_conceals_lost_packets() -> None:
    from agora_runner.channel.network import NetworkConditions

    assert NetworkConditions.parse("codec=opus,dtx=1,loss=0.1,seed=3") == NetworkConditions(
        0, 0, 0.1, 3, "opus", 24000, True
    )
    with pytest.raises(ValueError, match="codec must be one of"):
        NetworkConditions(codec="g729")
    t = np.arange(16000) / 16000
    voiced = (6000 * sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 6))).astype(np.int16)

    async def scenario(network: NetworkConditions) -> np.ndarray:
        server = ChannelServer({APP: CERT})
        await server.start()
        addr = f"127.0.0.1:{server.port}"
        sender = LocalChannelTransport(addr, network=network)
        receiver = LocalChannelTransport(addr)
        await receiver.connect(join("room", 2))
        await sender.connect(join("room", 1))
        for i in range(0, len(voiced), 160):
            await sender.send(voiced[i : i + 160].tobytes())
        got: list[bytes] = []
        while True:
            try:
                ev = await asyncio.wait_for(receiver.events.get(), 0.5)
            except TimeoutError:
                break
            if isinstance(ev, RemoteAudio):
                got.append(ev.pcm)
        await sender.disconnect()
        await receiver.disconnect()
        await server.stop()
        return np.frombuffer(b"".join(got), dtype=np.int16)

    heard = asyncio.run(scenario(NetworkConditions(codec="opus", loss=0.1, seed=3)))
    # Every frame arrives (lost packets are concealed, not missing), changed by the codec
    # (it keeps the sound, not the waveform) but about as loud as what was sent.
    assert len(heard) == len(voiced) and not np.array_equal(heard, voiced)

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x[1600:].astype(np.float64) ** 2)))

    assert abs(20 * np.log10(rms(heard) / rms(voiced))) < 3
    again = asyncio.run(scenario(NetworkConditions(codec="opus", loss=0.1, seed=3)))
    assert np.array_equal(heard, again)  # the same seed loses the same packets

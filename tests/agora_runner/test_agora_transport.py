"""The Agora transport against the SDK's real Python layer (only the native library faked)."""

from __future__ import annotations

import asyncio
import ctypes
from typing import Any

import numpy as np
import pytest

from agora_runner.errors import JoinError, TransportUnavailable
from agora_runner.policy import ScriptedPolicy
from agora_runner.session import ENCRYPTION_MODES
from agora_runner.transports.base import EncryptionFailure, RemoteAudio, UserJoined, UserLeft
from agora_runner.types import EncryptionConfig, JoinDetails

from .agora_sdk_harness import FakeNativeLib, agora_sdk

JOIN = JoinDetails("a" * 32, "room-7", "007token-text", 1)


@pytest.fixture
def lib() -> Any:
    with agora_sdk() as fake:
        yield fake


def agent(
    lib: FakeNativeLib, conn: int, token: str, channel: str, uid: str, pcm: bytes = bytes(3200)
) -> None:
    lib.connected(conn, channel, uid)
    lib.user_joined(conn, "1000")
    lib.play(channel, "1000", pcm)
    lib.user_left(conn, "1000")


async def drain(transport: Any, n: int) -> list[Any]:
    return [await asyncio.wait_for(transport.events.get(), 3) for _ in range(n)]


def test_join_publish_receive_and_release_in_the_order_the_sdk_requires(lib: FakeNativeLib) -> None:
    from agora_runner.transports.agora import AgoraTransport

    pcm = (np.arange(1600) % 200).astype(np.int16).tobytes()
    lib.remote = lambda *a: agent(*a, pcm=pcm)

    async def scenario() -> list[Any]:
        t = AgoraTransport()
        assert await t.connect(JOIN) == []
        for _ in range(5):
            await t.send(bytes(range(64)) * 5)
        events = await drain(t, 12)
        await t.disconnect()
        await t.disconnect()  # safe twice
        return events

    events = asyncio.run(scenario())
    assert isinstance(events[0], UserJoined) and events[0].uid == 1000
    audio = [e for e in events if isinstance(e, RemoteAudio)]
    assert b"".join(e.pcm for e in audio) == pcm and all(e.uid == 1000 for e in audio)
    assert isinstance(events[-1], UserLeft)
    names = lib.names()
    order = [
        "agora_service_initialize",
        "agora_rtc_conn_create",
        "agora_rtc_conn_register_observer",
        "agora_local_user_set_playback_audio_frame_before_mixing_parameters",
        "agora_local_user_register_audio_frame_observer",
        "agora_rtc_conn_connect",
        "agora_local_user_publish_audio",
        "agora_audio_pcm_data_sender_send",
        "agora_rtc_conn_disconnect",
        "agora_rtc_conn_destroy",
    ]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
    assert (
        names.count("agora_service_initialize") == 1 and names.count("agora_rtc_conn_destroy") == 1
    )
    assert names.count("agora_audio_pcm_data_sender_send") == 5
    _, connect_args = next(c for c in lib.calls if c[0] == "agora_rtc_conn_connect")
    assert [a.value for a in connect_args[1:]] == [b"007token-text", b"room-7", b"1"]
    _, playback_args = next(
        c
        for c in lib.calls
        if c[0] == "agora_local_user_set_playback_audio_frame_before_mixing_parameters"
    )
    assert playback_args[1:] == (1, 16000)


def test_one_service_per_process_for_many_calls(lib: FakeNativeLib) -> None:
    from agora_runner.transports.agora import AgoraTransport

    lib.remote = agent

    async def call() -> None:
        t = AgoraTransport()
        await t.connect(JOIN)
        await t.disconnect()

    asyncio.run(call())
    asyncio.run(call())
    assert lib.names().count("agora_service_initialize") == 1
    assert lib.names().count("agora_rtc_conn_create") == 2


def test_encryption_reaches_the_sdk_before_connect_with_the_decoded_salt(
    lib: FakeNativeLib,
) -> None:
    from agora_runner.transports.agora import AgoraTransport

    lib.remote = agent
    salt = bytes(range(1, 33))
    join = JoinDetails(
        JOIN.app_id,
        JOIN.channel,
        JOIN.token,
        1,
        EncryptionConfig("aes_256_gcm2", ENCRYPTION_MODES["aes_256_gcm2"], "key-1", salt),
    )

    async def scenario() -> None:
        t = AgoraTransport()
        await t.connect(join)
        await t.disconnect()

    asyncio.run(scenario())
    names = lib.names()
    assert names.index("agora_rtc_conn_enable_encryption") < names.index("agora_rtc_conn_connect")
    _, args = next(c for c in lib.calls if c[0] == "agora_rtc_conn_enable_encryption")
    assert args[1] == 1
    inner = args[2]._obj  # the EncryptionConfigInner passed by reference
    assert inner.encryption_mode == 8 and inner.encryption_key == b"key-1"
    assert bytes(inner.encryption_kdf_salt) == salt


def test_refused_join_says_why_and_releases_the_connection(lib: FakeNativeLib) -> None:
    from agora_runner.transports.agora import AgoraTransport

    lib.remote = lambda lib_, conn, token, channel, uid: lib_.connection_failure(
        conn, channel, uid, 8
    )

    async def scenario() -> None:
        await AgoraTransport().connect(JOIN)

    with pytest.raises(JoinError, match="the token was rejected"):
        asyncio.run(scenario())
    assert "agora_rtc_conn_destroy" in lib.names()


def test_no_answer_while_joining_times_out_and_releases(
    lib: FakeNativeLib, monkeypatch: Any
) -> None:
    from agora_runner.transports import agora as module

    monkeypatch.setattr(module, "CONNECT_TIMEOUT", 0.3)
    lib.remote = None

    async def scenario() -> None:
        await module.AgoraTransport().connect(JOIN)

    with pytest.raises(JoinError, match="no answer from Agora within 0.3 s"):
        asyncio.run(scenario())
    assert "agora_rtc_conn_destroy" in lib.names()


def test_encryption_error_callback_becomes_an_event(lib: FakeNativeLib) -> None:
    from agora_runner.transports.agora import AgoraTransport

    def remote(lib_: FakeNativeLib, conn: int, token: str, channel: str, uid: str) -> None:
        lib_.connected(conn, channel, uid)
        lib_.encryption_error(conn)

    lib.remote = remote

    async def scenario() -> Any:
        t = AgoraTransport()
        await t.connect(JOIN)
        ev = await asyncio.wait_for(t.events.get(), 3)
        await t.disconnect()
        return ev

    assert isinstance(asyncio.run(scenario()), EncryptionFailure)


def test_a_simulated_call_runs_over_the_sdk_transport(lib: FakeNativeLib, tts: Any) -> None:
    from agora_runner.call import SimulatedCall, run_call_async
    from agora_runner.transports.agora import AgoraTransport

    greeting = tts.synthesize("Hello, thank you for calling.")
    lib.remote = lambda *a: agent(*a, pcm=greeting.tobytes())
    call = SimulatedCall(
        transport=AgoraTransport(),
        join=JOIN,
        policy=ScriptedPolicy(["Goodbye."]),
        tts=tts,
        silence_limit=3,
        agent_join_timeout=3,
    )
    outcome = asyncio.run(run_call_async(call))
    assert outcome.transport == "agora" and outcome.agent_uid == 1000
    assert outcome.ended_reason == "Main agent-ended-call"
    assert outcome.recording is not None
    agent_track = outcome.recording.agent
    assert np.abs(agent_track.astype(np.int32)).max() > 1000  # the greeting was recorded
    assert lib.names().count("agora_audio_pcm_data_sender_send") > 100


def test_the_harness_catches_arguments_the_sdk_would_refuse(lib: FakeNativeLib) -> None:
    """The regression that found a real bug: the SDK needs a writable buffer, not bytes."""
    from agora.rtc.agora_base import RtcConnectionPublishConfig  # type: ignore[import-not-found]

    from agora_runner.transports.agora import SERVICES, load_sdk

    sdk = load_sdk()
    conn = SERVICES.get(sdk, "b" * 32).create_rtc_connection(
        sdk.RTCConnConfig(), RtcConnectionPublishConfig()
    )
    with pytest.raises(TypeError, match="not writable"):
        conn.push_audio_pcm_data(bytes(320), 16000, 1)
    assert conn.push_audio_pcm_data(bytearray(320), 16000, 1) == 0
    with pytest.raises(ctypes.ArgumentError):
        lib.agora_rtc_conn_connect(conn.conn_handle, 1, 2, 3)  # ints where the SDK declares strings


def test_a_missing_native_library_is_a_clear_error(monkeypatch: Any) -> None:
    import importlib

    from agora_runner.transports import agora as module

    with pytest.raises(TransportUnavailable, match=r"pip install '\.\[agora\]'"):
        module.load_sdk()  # not installed here: ImportError

    def exits(name: str) -> Any:
        raise SystemExit(1)  # what the SDK does when its library file is missing

    monkeypatch.setattr(importlib, "import_module", exits)
    with pytest.raises(TransportUnavailable, match="SystemExit"):
        module.load_sdk()


def test_token_expiring_mid_call_ends_the_run_with_that_reason(
    lib: FakeNativeLib, tts: Any
) -> None:
    import time

    from agora_runner.call import SimulatedCall, run_call_async
    from agora_runner.transports.agora import AgoraTransport

    def remote(lib_: FakeNativeLib, conn: int, token: str, channel: str, uid: str) -> None:
        lib_.connected(conn, channel, uid)
        lib_.user_joined(conn, "1000")
        time.sleep(1.0)
        lib_.token_expired(conn)

    lib.remote = remote
    call = SimulatedCall(
        transport=AgoraTransport(),
        join=JOIN,
        policy=ScriptedPolicy(["Hi."]),
        tts=tts,
        silence_limit=5,
    )
    outcome = asyncio.run(run_call_async(call))
    assert outcome.ended_reason == "Main agent-call-not-connected"
    assert outcome.error == "the channel disconnected the caller: the token has expired"

"""Transport on Agora's server SDK (`agora-python-server-sdk` 2.3+, the optional extra `agora`).

The SDK's native library is downloaded while the package builds, so on many machines it is
absent; importing it then raises ImportError or OSError (urllib's URLError among them) or even
calls sys.exit. It is imported lazily, and every such failure becomes a TransportUnavailable
that says how to install it — a run that fails with a reason, never a dead worker.

Call order (spec/agora-facts.md): AgoraService().initialize(AgoraServiceConfig) once per process
→ create_rtc_connection(RTCConnConfig, RtcConnectionPublishConfig) → register_observer →
enable_encryption (before connect) → set_playback_audio_frame_before_mixing_parameters(1, 16000)
before register_audio_frame_observer → connect(token, channel, str(uid)), then wait for
on_connected → publish_audio → push_audio_pcm_data(pcm, 16000, 1) → disconnect, release.

Callbacks arrive on the SDK's native threads: they only hand events to the event loop with
call_soon_threadsafe and never call back into the SDK.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

from ..errors import JoinError, TransportUnavailable
from ..types import JoinDetails
from .base import (
    ChannelTransport,
    Disconnected,
    EncryptionFailure,
    RemoteAudio,
    UserJoined,
    UserLeft,
)

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the Agora transport needs agora-python-server-sdk and its native library: "
    "install the extra with `pip install '.[agora]'` on a machine with internet access"
)
CONNECT_TIMEOUT = 15.0
SAMPLE_RATE = 16000

# Agora's CONNECTION_CHANGED_REASON_TYPE values that can end a join, in plain words.
CONNECTION_REASONS = {
    3: "the server banned this user",
    4: "joining the channel failed",
    5: "left the channel",
    6: "the app id is invalid",
    7: "the channel name is invalid",
    8: "the token was rejected (wrong app id, channel or uid, or a bad signature)",
    9: "the token has expired",
    10: "the server rejected the join",
    14: "the connection kept no contact with the server (keep-alive time-out)",
    16: "the connection was lost",
    19: "another client joined with the same uid",
    20: "the channel has too many broadcasters",
    21: "the license validation failed",
}

_SDK_MODULES = {
    "agora_service": "agora.rtc.agora_service",
    "agora_base": "agora.rtc.agora_base",
    "rtc_connection_observer": "agora.rtc.rtc_connection_observer",
    "audio_frame_observer": "agora.rtc.audio_frame_observer",
}


def load_sdk() -> SimpleNamespace:
    """Import the SDK's Python layer; any failure to load it becomes TransportUnavailable."""
    try:
        mods = {name: importlib.import_module(path) for name, path in _SDK_MODULES.items()}
    except (ImportError, OSError, SystemExit) as exc:
        # SystemExit: the SDK calls sys.exit(1) when its native library is missing.
        raise TransportUnavailable(f"{INSTALL_HINT} ({exc.__class__.__name__})") from None
    base = mods["agora_base"]
    return SimpleNamespace(
        AgoraService=mods["agora_service"].AgoraService,
        AgoraServiceConfig=base.AgoraServiceConfig,
        RTCConnConfig=base.RTCConnConfig,
        RtcConnectionPublishConfig=base.RtcConnectionPublishConfig,
        EncryptionConfig=base.EncryptionConfig,
        AudioScenarioType=base.AudioScenarioType,
        ClientRoleType=base.ClientRoleType,
        ChannelProfileType=base.ChannelProfileType,
        AudioPublishType=base.AudioPublishType,
        IRTCConnectionObserver=mods["rtc_connection_observer"].IRTCConnectionObserver,
        IAudioFrameObserver=mods["audio_frame_observer"].IAudioFrameObserver,
    )


class _Services:
    """One initialised AgoraService per app id for the life of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_app: dict[str, Any] = {}

    def get(self, sdk: SimpleNamespace, app_id: str) -> Any:
        with self._lock:
            svc = self._by_app.get(app_id)
            if svc is None:
                svc = sdk.AgoraService()
                config = sdk.AgoraServiceConfig(
                    appid=app_id,
                    audio_scenario=sdk.AudioScenarioType.AUDIO_SCENARIO_AI_SERVER,
                    channel_profile=sdk.ChannelProfileType.CHANNEL_PROFILE_LIVE_BROADCASTING,
                    enable_video=0,
                )
                rc = svc.initialize(config)
                if rc != 0:
                    raise TransportUnavailable(f"the Agora SDK failed to initialise (error {rc})")
                self._by_app[app_id] = svc
            return svc

    def release_all(self) -> None:
        with self._lock:
            for svc in self._by_app.values():
                try:
                    svc.release()
                except Exception:  # at exit nothing more can be done
                    log.exception("releasing the Agora service failed")
            self._by_app.clear()


SERVICES = _Services()
atexit.register(SERVICES.release_all)


def _uid(value: Any) -> int:
    text = value.decode() if isinstance(value, bytes) else str(value)
    return int(text) if text.isdigit() else abs(hash(text)) % (2**31)


def _observers(sdk: SimpleNamespace, transport: AgoraTransport) -> tuple[Any, Any]:
    """Observer classes built on the SDK's own interfaces, bound to one transport."""

    class ConnectionObserver(sdk.IRTCConnectionObserver):  # type: ignore[name-defined, misc]
        def on_connected(self, agora_rtc_conn: Any, conn_info: Any, reason: int) -> None:
            transport._threadsafe(transport._on_connected)

        def on_connection_failure(self, agora_rtc_conn: Any, info: Any, reason: int) -> None:
            transport._threadsafe(transport._on_failure, int(reason))

        def on_disconnected(self, agora_rtc_conn: Any, conn_info: Any, reason: int) -> None:
            transport._threadsafe(transport._on_disconnected, int(reason))

        def on_user_joined(self, agora_rtc_conn: Any, user_id: Any) -> None:
            transport._emit(UserJoined(_uid(user_id), time.monotonic()))

        def on_user_left(self, agora_rtc_conn: Any, user_id: Any, reason: int) -> None:
            transport._emit(UserLeft(_uid(user_id), f"agora reason {reason}", time.monotonic()))

        def on_token_privilege_will_expire(self, agora_rtc_conn: Any, token: Any) -> None:
            log.warning("Agora: the join token will expire soon")

        def on_token_privilege_did_expire(self, agora_rtc_conn: Any) -> None:
            transport._emit(Disconnected("the token has expired", time.monotonic()))

        def on_encryption_error(self, agora_rtc_conn: Any, error_type: int) -> None:
            # 1 = decryption failure: the agent's audio cannot be heard.
            transport._emit(EncryptionFailure(-1, time.monotonic()))

    class AudioObserver(sdk.IAudioFrameObserver):  # type: ignore[name-defined, misc]
        def on_playback_audio_frame_before_mixing(
            self,
            agora_local_user: Any,
            channelId: Any,
            uid: Any,
            frame: Any,
            vad_result_state: int,
            vad_result_bytearray: Any,
        ) -> int:
            # Copy the buffer now: the SDK reuses its memory after the callback returns.
            transport._emit(RemoteAudio(_uid(uid), bytes(frame.buffer), time.monotonic()))
            return 1

    return ConnectionObserver(), AudioObserver()


class AgoraTransport(ChannelTransport):
    name = "agora"

    def __init__(self, sdk: SimpleNamespace | None = None) -> None:
        super().__init__()
        self._sdk = sdk
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Future[None] | None = None
        self._observers: tuple[Any, Any] | None = None  # kept alive while the SDK holds them
        self._push_errors = 0

    # --- callbacks (native threads) → event loop ------------------------------------------
    def _threadsafe(self, fn: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _emit(self, event: Any) -> None:
        self._threadsafe(self.events.put_nowait, event)

    def _on_connected(self) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(None)

    def _on_failure(self, reason: int) -> None:
        text = CONNECTION_REASONS.get(reason, f"Agora connection failure (reason {reason})")
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(
                JoinError(f"joining channel refused: {text}", permanent=reason not in (14, 16))
            )
        else:
            self.events.put_nowait(Disconnected(text, time.monotonic()))

    def _on_disconnected(self, reason: int) -> None:
        text = CONNECTION_REASONS.get(reason, f"disconnected (reason {reason})")
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(
                JoinError(f"joining channel failed: {text}", permanent=False)
            )
        else:
            self.events.put_nowait(Disconnected(text, time.monotonic()))

    # --- the transport ---------------------------------------------------------------------
    async def connect(self, join: JoinDetails) -> list[int]:
        sdk = self._sdk or load_sdk()
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        svc = SERVICES.get(sdk, join.app_id)
        conn = svc.create_rtc_connection(
            sdk.RTCConnConfig(
                auto_subscribe_audio=1,
                auto_subscribe_video=0,
                client_role_type=sdk.ClientRoleType.CLIENT_ROLE_BROADCASTER,
                channel_profile=sdk.ChannelProfileType.CHANNEL_PROFILE_LIVE_BROADCASTING,
            ),
            sdk.RtcConnectionPublishConfig(
                audio_scenario=sdk.AudioScenarioType.AUDIO_SCENARIO_AI_SERVER,
                is_publish_audio=True,
                is_publish_video=False,
                audio_publish_type=sdk.AudioPublishType.AUDIO_PUBLISH_TYPE_PCM,
            ),
        )
        if conn is None:
            raise JoinError("the Agora SDK could not create a connection", permanent=False)
        self._conn = conn
        try:
            conn_observer, audio_observer = self._observers = _observers(sdk, self)
            conn.register_observer(conn_observer)
            if join.encryption is not None:
                rc = conn.enable_encryption(
                    1,
                    sdk.EncryptionConfig(
                        encryption_mode=join.encryption.mode,
                        encryption_key=join.encryption.key,
                        # The SDK wants the decoded salt bytes, not the base64 text.
                        encryption_kdf_salt=bytearray(join.encryption.salt)
                        if join.encryption.salt
                        else None,
                    ),
                )
                if rc != 0:
                    raise JoinError(f"the Agora SDK refused the encryption settings (error {rc})")
            conn.get_local_user().set_playback_audio_frame_before_mixing_parameters(1, SAMPLE_RATE)
            conn.register_audio_frame_observer(audio_observer, 0, None)
            rc = conn.connect(join.token, join.channel, str(join.uid))
            if rc != 0:
                raise JoinError(f"the Agora SDK refused to connect (error {rc})", permanent=False)
            try:
                await asyncio.wait_for(self._connected, CONNECT_TIMEOUT)
            except TimeoutError:
                raise JoinError(
                    f"no answer from Agora within {CONNECT_TIMEOUT:g} s while joining",
                    permanent=False,
                ) from None
            conn.publish_audio()
        except BaseException:
            await self.disconnect()
            raise
        # Members already present are announced through on_user_joined.
        return []

    async def send(self, pcm: bytes) -> None:
        if self._conn is None:
            return
        # The SDK wraps the buffer with ctypes from_buffer, which needs it writable.
        rc = self._conn.push_audio_pcm_data(bytearray(pcm), SAMPLE_RATE, 1)
        if rc != 0:
            self._push_errors += 1
            if self._push_errors == 1:
                log.warning("Agora: push_audio_pcm_data answered %s", rc)

    async def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.disconnect()
        finally:
            conn.release()
            self._observers = None

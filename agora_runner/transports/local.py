"""Transport for our local channel server (agora_runner.channel.server)."""

from __future__ import annotations

import asyncio
import random
import struct
import time

import numpy as np

from ..audio import FRAME_BYTES
from ..channel.crypto import FrameCipher
from ..channel.network import NetworkConditions
from ..channel.protocol import (
    KIND_AUDIO,
    KIND_CONTROL,
    decode_control,
    encode_audio,
    encode_control,
    read_message,
)
from ..errors import JoinError
from ..types import JoinDetails
from .base import (
    ChannelTransport,
    Disconnected,
    EncryptionFailure,
    RemoteAudio,
    UserJoined,
    UserLeft,
)

CONNECT_TIMEOUT = 10.0


class LocalChannelTransport(ChannelTransport):
    name = "local"

    def __init__(self, address: str, network: NetworkConditions | None = None) -> None:
        super().__init__()
        self.network = network
        self._cipher: FrameCipher | None = None
        host, _, port = address.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._sent = 0
        self._codec = None
        if network is not None and network.codec == "opus":
            from ..channel.codec import OpusLink

            # Our uplink through Opus, as a real call's: what the far side hears is the
            # decoded audio, a lost packet concealed (the same seeded losses every time).
            self._codec = OpusLink(bitrate=network.bitrate, dtx=network.dtx)
            self._loss = random.Random(network.seed)

    async def connect(self, join: JoinDetails) -> list[int]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT
            )
            self._reader, self._writer = reader, writer
        except (TimeoutError, OSError) as exc:
            raise JoinError(
                f"could not reach the local channel at {self.host}:{self.port} "
                f"({exc.__class__.__name__})",
                permanent=False,
            ) from exc
        self._cipher = FrameCipher(join.encryption) if join.encryption else None
        hello: dict[str, object] = {
            "op": "join",
            "app_id": join.app_id,
            "channel": join.channel,
            "token": join.token,
            "uid": join.uid,
        }
        if self.network is not None and self.network.active:
            hello["network"] = self.network.as_dict()
        writer.write(encode_control(hello))
        try:
            kind, payload = await asyncio.wait_for(read_message(reader), CONNECT_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.disconnect()
            raise JoinError(
                "the local channel closed the connection while joining", permanent=False
            ) from exc
        msg = decode_control(payload) if kind == KIND_CONTROL else {}
        if msg.get("op") != "joined":
            await self.disconnect()
            raise JoinError(f"joining channel refused: {msg.get('reason', 'unexpected answer')}")
        self._pump = asyncio.create_task(self._read_loop())
        return [int(u) for u in msg.get("members", [])]

    async def _read_loop(self) -> None:
        assert self._reader is not None
        reason = "connection closed"
        try:
            while True:
                kind, payload = await read_message(self._reader)
                now = time.monotonic()
                if kind == KIND_AUDIO and len(payload) > 4:
                    (uid,) = struct.unpack(">I", payload[:4])
                    pcm: bytes | None = payload[4:]
                    if self._cipher is not None:
                        pcm = self._cipher.open(pcm)  # type: ignore[arg-type]
                    if pcm is None or len(pcm) != FRAME_BYTES:
                        # Another key, mode or salt (or none): nothing usable to hear.
                        self.events.put_nowait(EncryptionFailure(uid, now))
                    else:
                        self.events.put_nowait(RemoteAudio(uid, pcm, now))
                elif kind == KIND_CONTROL:
                    msg = decode_control(payload)
                    if msg["op"] == "user_joined":
                        self.events.put_nowait(UserJoined(int(msg["uid"]), now))
                    elif msg["op"] == "user_left":
                        self.events.put_nowait(
                            UserLeft(int(msg["uid"]), str(msg.get("reason", "")), now)
                        )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            reason = "left"
            raise
        finally:
            self.events.put_nowait(Disconnected(reason, time.monotonic()))

    async def send(self, pcm: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            return
        if self._codec is not None and self.network is not None:
            lost = self._loss.random() < self.network.loss
            pcm = self._codec.carry(np.frombuffer(pcm, dtype=np.int16), lost=lost).tobytes()
        self._writer.write(encode_audio(self._cipher.seal(pcm) if self._cipher else pcm))
        self._sent += 1
        if self._sent % 50 == 0:
            await self._writer.drain()

    async def disconnect(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None and not writer.is_closing():
            try:
                writer.write(encode_control({"op": "leave"}))
                await asyncio.wait_for(writer.drain(), 2.0)
            except (TimeoutError, ConnectionError):
                pass
            writer.close()
        if self._pump is not None:
            self._pump.cancel()
            try:
                await self._pump
            except (asyncio.CancelledError, Exception):
                pass
            self._pump = None

"""Wire format: each message is u32 length (big-endian, of what follows) + u8 kind + payload.

kind 1: JSON control message. kind 2: audio. Client→server audio is 320 bytes of PCM;
server→client audio is u32 sender uid + 320 bytes of PCM.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

KIND_CONTROL = 1
KIND_AUDIO = 2
MAX_MESSAGE = 64 * 1024


async def read_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(5)
    length, kind = struct.unpack(">IB", header)
    if length < 1 or length > MAX_MESSAGE:
        raise ValueError(f"message length {length} out of bounds")
    return kind, await reader.readexactly(length - 1)


def encode_control(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack(">IB", len(body) + 1, KIND_CONTROL) + body


def encode_audio(pcm: bytes, sender: int | None = None) -> bytes:
    body = pcm if sender is None else struct.pack(">I", sender) + pcm
    return struct.pack(">IB", len(body) + 1, KIND_AUDIO) + body


def decode_control(payload: bytes) -> dict[str, Any]:
    message = json.loads(payload)
    if not isinstance(message, dict) or "op" not in message:
        raise ValueError("control message must be an object with 'op'")
    return message

"""The interface every transport offers; it mirrors what the Agora server SDK does."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass

from ..types import JoinDetails


@dataclass
class RemoteAudio:
    uid: int
    pcm: bytes  # one 10 ms frame, s16le 16 kHz mono
    t: float  # monotonic arrival time


@dataclass
class UserJoined:
    uid: int
    t: float


@dataclass
class UserLeft:
    uid: int
    reason: str
    t: float


@dataclass
class Disconnected:
    reason: str
    t: float


@dataclass
class EncryptionFailure:
    """A remote frame could not be decrypted (Agora: on_encryption_error, 1 = decryption)."""

    uid: int
    t: float


Event = RemoteAudio | UserJoined | UserLeft | Disconnected | EncryptionFailure


class ChannelTransport(abc.ABC):
    """connect → send frames / read events → disconnect. `disconnect` is always safe to call."""

    name: str = "abstract"

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    @abc.abstractmethod
    async def connect(self, join: JoinDetails) -> list[int]:
        """Join as `join.uid`; returns the uids already present. Raises JoinError."""

    @abc.abstractmethod
    async def send(self, pcm: bytes) -> None:
        """Publish one 10 ms frame (320 bytes)."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Leave and release everything."""

"""The local channel server: members join with app id, channel, AccessToken2 and uid.

Tokens are verified like Agora does (spec/agora-facts.md); frames are relayed to every
other member of the channel; joins and leaves are announced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace

from ..audio import FRAME_BYTES
from ..tokens import TokenError, verify_rtc_join
from .crypto import OVERHEAD
from .network import Impairment, NetworkConditions
from .protocol import (
    KIND_AUDIO,
    KIND_CONTROL,
    decode_control,
    encode_audio,
    encode_control,
    read_message,
)

log = logging.getLogger(__name__)
JOIN_TIMEOUT = 10.0
# A member whose socket buffers this much unsent audio is not reading; it is dropped.
MAX_BACKLOG = 4 * 1024 * 1024


MAX_FRAME = FRAME_BYTES + OVERHEAD  # plain or encrypted; the server never decrypts


@dataclass
class Member:
    uid: int
    writer: asyncio.StreamWriter
    joined_at: float = field(default_factory=time.monotonic)
    impairment: Impairment | None = None
    delayed: asyncio.Queue[tuple[float, bytes]] | None = None
    last_delivery: float = 0.0

    def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        transport = self.writer.transport
        if transport.get_write_buffer_size() > MAX_BACKLOG:
            transport.abort()
            return
        self.writer.write(data)


class ChannelServer:
    def __init__(
        self, certificates: dict[str, str], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        # app id → app certificate: the apps this server serves
        self.certificates = dict(certificates)
        self.host = host
        self.port = port
        self.channels: dict[tuple[str, str], dict[int, Member]] = {}
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("local channel listening on %s:%s", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for members in list(self.channels.values()):
                for m in list(members.values()):
                    m.writer.close()
            await self._server.wait_closed()

    def members(self, app_id: str, channel: str) -> list[int]:
        return sorted(self.channels.get((app_id, channel), {}))

    @staticmethod
    def _fan_out(sender: Member, members: dict[int, Member], frame: bytes) -> None:
        for other in list(members.values()):
            if other is not sender:
                other.send(frame)

    async def _deliver_later(self, member: Member, members: dict[int, Member]) -> None:
        assert member.delayed is not None
        while True:
            at, frame = await member.delayed.get()
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._fan_out(member, members, frame)

    def _refuse(self, writer: asyncio.StreamWriter, code: str, reason: str) -> None:
        writer.write(encode_control({"op": "error", "code": code, "reason": reason}))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key: tuple[str, str] | None = None
        member: Member | None = None
        delivery: asyncio.Task[None] | None = None
        leave_reason = "quit"
        try:
            admitted = await self._admit(reader, writer)
            if admitted is None:
                return
            key, uid, conditions = admitted
            members = self.channels.setdefault(key, {})
            if uid in members:
                self._refuse(writer, "uid_conflict", f"uid {uid} is already in the channel")
                key = None
                return
            member = Member(uid, writer)
            delivery = self._impair(member, members, conditions)
            writer.write(encode_control({"op": "joined", "uid": uid, "members": sorted(members)}))
            for other in members.values():
                other.send(encode_control({"op": "user_joined", "uid": uid}))
            members[uid] = member
            await self._relay(reader, member, members)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            leave_reason = "dropped"
        except ValueError as exc:
            log.warning("local channel: protocol error: %s", exc)
            leave_reason = "dropped"
        finally:
            if delivery is not None:
                delivery.cancel()
            if key is not None and member is not None:
                self._leave(key, member, leave_reason)
            try:
                await writer.drain()
            except ConnectionError:
                pass
            writer.close()

    async def _admit(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[tuple[str, str], int, NetworkConditions | None] | None:
        """The first message must be a join this server accepts: (channel key, uid, network
        conditions), or None once the member has been told why not."""
        kind, payload = await asyncio.wait_for(read_message(reader), JOIN_TIMEOUT)
        msg = decode_control(payload) if kind == KIND_CONTROL else {}
        if msg.get("op") != "join":
            self._refuse(writer, "protocol", "the first message must be a join")
            return None
        app_id, channel = str(msg.get("app_id", "")), str(msg.get("channel", ""))
        try:
            uid = int(msg.get("uid"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self._refuse(writer, "invalid_uid", "uid must be an integer")
            return None
        cert = self.certificates.get(app_id)
        if cert is None:
            self._refuse(writer, "invalid_app_id", "this channel server does not serve that app id")
            return None
        if not channel:
            self._refuse(writer, "invalid_channel", "channel name is empty")
            return None
        try:
            verify_rtc_join(
                str(msg.get("token", "")),
                app_id=app_id,
                app_certificate=cert,
                channel=channel,
                uid=uid,
            )
        except TokenError as exc:
            self._refuse(writer, "invalid_token", str(exc))
            return None
        try:
            conditions = NetworkConditions.from_dict(msg.get("network"))
        except (TypeError, ValueError) as exc:
            self._refuse(writer, "invalid_network", f"network conditions are invalid: {exc}")
            return None
        return (app_id, channel), uid, conditions

    def _impair(
        self, member: Member, members: dict[int, Member], conditions: NetworkConditions | None
    ) -> asyncio.Task[None] | None:
        """Delay, jitter and loss on what this member sends, when it asked for them: the task
        that delivers its delayed frames, or None."""
        if conditions is not None and conditions.codec:
            # The sender's codec conceals its own lost packets (transports.local): here
            # its frames are only delayed.
            conditions = replace(conditions, loss=0.0)
        if conditions is None or not (
            conditions.latency_ms or conditions.jitter_ms or conditions.loss
        ):
            return None
        member.impairment = Impairment(conditions)
        member.delayed = asyncio.Queue()
        return asyncio.create_task(self._deliver_later(member, members))

    async def _relay(
        self, reader: asyncio.StreamReader, member: Member, members: dict[int, Member]
    ) -> None:
        """Fan this member's audio frames out to the others until it leaves."""
        while True:
            kind, payload = await read_message(reader)
            if kind == KIND_AUDIO:
                if not FRAME_BYTES <= len(payload) <= MAX_FRAME:
                    continue
                frame = encode_audio(payload, sender=member.uid)
                if member.impairment is not None and member.delayed is not None:
                    delay = member.impairment.next_delay()
                    if delay is not None:
                        # Frames stay in order: a frame never overtakes the one before.
                        at = max(time.monotonic() + delay, member.last_delivery)
                        member.last_delivery = at
                        member.delayed.put_nowait((at, frame))
                    continue
                self._fan_out(member, members, frame)
            elif kind == KIND_CONTROL and decode_control(payload).get("op") == "leave":
                return

    def _leave(self, key: tuple[str, str], member: Member, reason: str) -> None:
        members = self.channels.get(key, {})
        if members.get(member.uid) is member:
            del members[member.uid]
            for other in members.values():
                other.send(encode_control({"op": "user_left", "uid": member.uid, "reason": reason}))
        if not members:
            self.channels.pop(key, None)

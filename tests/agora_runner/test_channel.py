from __future__ import annotations

import asyncio

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
    token = mint_rtc_token(app_id=APP, app_certificate=cert, channel=channel, uid=uid if token_uid is None else token_uid)
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
        (lambda: JoinDetails("99" * 16, "room", join("room", 1).token, 1), "does not serve that app id"),
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

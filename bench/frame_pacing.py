"""Outgoing frame pacing under load: N simultaneous calls through the local channel.

Processes: the local channel server; N agent-side members that publish continuously; and
this process with N paced callers (PacedSpeaker, as in a real run) speaking without pause.
For every caller frame, lateness = send time − its deadline (t0 + k·10 ms). Prints p50/p99
lateness (the send-time jitter) and the count of frames more than 20 ms late.

    .venv/bin/python bench/frame_pacing.py [--calls 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agora_runner.demo.defaults import DEMO_APP_CERTIFICATE, DEMO_APP_ID  # noqa: E402
from agora_runner.speaker import PacedSpeaker  # noqa: E402
from agora_runner.tokens import mint_rtc_token  # noqa: E402
from agora_runner.transports.local import LocalChannelTransport  # noqa: E402
from agora_runner.types import JoinDetails  # noqa: E402


def join(channel: str, uid: int) -> JoinDetails:
    return JoinDetails(
        DEMO_APP_ID,
        channel,
        mint_rtc_token(
            app_id=DEMO_APP_ID, app_certificate=DEMO_APP_CERTIFICATE, channel=channel, uid=uid
        ),
        uid,
    )


def speech(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (6000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


_SPEECH: dict[float, np.ndarray] = {}


async def member(
    address: str, channel: str, uid: int, seconds: float, lateness: list[float] | None
) -> int:
    # Audio is made before joining, as a real run synthesises its lines before it joins.
    audio = _SPEECH.setdefault(seconds, speech(seconds + 1))
    transport = LocalChannelTransport(address)
    await transport.connect(join(channel, uid))
    received = 0

    async def drain() -> None:
        nonlocal received
        while True:
            await transport.events.get()
            received += 1

    speaker: PacedSpeaker

    async def send(frame: bytes) -> None:
        if lateness is not None:
            lateness.append(time.monotonic() - (speaker.t0 + speaker.frames_sent * 0.01))
        await transport.send(frame)

    speaker = PacedSpeaker(send)
    speaker.say("load", audio)
    reader = asyncio.create_task(drain())
    pacer = asyncio.create_task(speaker.run(time.monotonic()))
    await asyncio.sleep(seconds)
    speaker.stop()
    pacer.cancel()
    reader.cancel()
    await asyncio.gather(pacer, reader, return_exceptions=True)
    await transport.disconnect()
    return received


def agents_process(address: str, calls: int, seconds: float) -> None:
    async def main() -> None:
        await asyncio.gather(
            *(member(address, f"bench-{i}", 1000, seconds + 2, None) for i in range(calls))
        )

    asyncio.run(main())


async def callers(address: str, calls: int, seconds: float) -> tuple[list[float], list[int]]:
    lateness: list[float] = []
    received = await asyncio.gather(
        *(member(address, f"bench-{i}", 1, seconds, lateness) for i in range(calls))
    )
    return lateness, list(received)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "agora_runner", "channel-server", "--channel-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        match = None
        while match is None:
            line = server.stdout.readline()
            if not line:
                raise SystemExit("channel server failed to start")
            match = re.search(r"channel=(\S+)", line)
        address = match.group(1)
        agents = mp.Process(target=agents_process, args=(address, args.calls, args.seconds))
        agents.start()
        time.sleep(1.0)
        cpu0 = os.times()
        lateness, received = asyncio.run(callers(address, args.calls, args.seconds))
        cpu1 = os.times()
        agents.join()
    finally:
        server.terminate()
        server.wait()
    ms = np.asarray(lateness) * 1000
    late = int((ms > 20).sum())
    print(f"calls: {args.calls} simultaneous, {args.seconds:g} s each, {os.cpu_count()} cores")
    print(f"caller frames sent: {len(ms)} (expected {int(args.calls * args.seconds * 100)})")
    print(
        f"send-time jitter: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} "
        f"ms, max {ms.max():.2f} ms"
    )
    print(f"late frames (> 20 ms): {late}")
    print(f"agent frames received per call: min {min(received)}, median {int(np.median(received))}")
    print(
        f"callers' process CPU: {(cpu1.user - cpu0.user) + (cpu1.system - cpu0.system):.1f} s over "
        f"{args.seconds:g} s"
    )
    print(
        "target: jitter p99 <= 5 ms, no late frames:",
        "MET" if np.percentile(ms, 99) <= 5 and late == 0 else "NOT MET",
    )


if __name__ == "__main__":
    main()

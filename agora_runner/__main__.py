"""`python -m agora_runner demo-stack|channel-server|check-endpoint`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from common.vocabulary import DEFAULT_SECRET_HEADER

from . import loop as event_loop

os.environ.setdefault("HF_HUB_OFFLINE", "1")


async def _demo_stack(args: argparse.Namespace) -> None:
    from .demo.stack import DemoStack
    from .speech import get_asr, get_tts

    tts, asr = get_tts(), get_asr(threads=args.asr_threads)
    stack = DemoStack(
        tts=tts,
        asr=asr,
        host=args.host,
        channel_port=args.channel_port,
        endpoint_port=args.endpoint_port,
    )
    await stack.start()
    # The line tests and `make demo` wait for: both addresses, once everything listens.
    print(
        f"demo-stack ready channel={stack.channel_address} endpoint={stack.endpoint_url}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await stack.stop()


async def _channel_server(args: argparse.Namespace) -> None:
    from .channel.server import ChannelServer
    from .demo.defaults import DEMO_APP_CERTIFICATE, DEMO_APP_ID

    server = ChannelServer({DEMO_APP_ID: DEMO_APP_CERTIFICATE}, args.host, args.channel_port)
    await server.start()
    print(f"channel-server ready channel={args.host}:{server.port}", flush=True)
    await asyncio.Event().wait()


def _check_endpoint(args: argparse.Namespace) -> int:
    from .checker import check_endpoint
    from .demo.defaults import DEMO_APP_ID
    from .types import SessionEndpointConfig

    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"error: environment variable {args.secret_env} is empty or unset", file=sys.stderr)
        return 2
    config = SessionEndpointConfig(
        url=args.url,
        client_id=args.client_id,
        secret=secret,
        header_name=args.header,
        method=args.method,
    )
    local_ids = tuple(
        i for i in os.environ.get("CEKURA_LOCAL_CHANNEL_APP_IDS", DEMO_APP_ID).split(",") if i
    )
    report = check_endpoint(
        config,
        join_uid=args.uid,
        join_seconds=args.join,
        local_app_ids=local_ids,
        local_address=os.environ.get("CEKURA_LOCAL_CHANNEL", "127.0.0.1:7788"),
    )
    for finding in report.findings:
        print(finding.line())
    print(
        "RESULT: the endpoint is ready for runs"
        if report.ok
        else "RESULT: fix the FAIL lines above before running"
    )
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agora_runner")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo-stack", help="local channel + demo session endpoint + demo agent")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--channel-port", type=int, default=7788)
    demo.add_argument("--endpoint-port", type=int, default=8765)
    demo.add_argument("--asr-threads", type=int, default=1)
    chan = sub.add_parser("channel-server", help="the local channel alone (demo app id)")
    chan.add_argument("--host", default="127.0.0.1")
    chan.add_argument("--channel-port", type=int, default=7788)
    hear = sub.add_parser(
        "hear-server",
        help="a call's hearing helper (speaks a pipe protocol; see agora_runner.hearing)",
    )
    hear.add_argument("--threads", type=int, default=1)
    hear.add_argument("--nice", type=int, default=10)
    hear.add_argument("--cpu-policy", choices=["normal", "batch", "idle"], default="normal")
    synth = sub.add_parser(
        "synth-server",
        help="a calls worker's synthesis helper (speaks a pipe protocol; see "
        "agora_runner.synthesis)",
    )
    synth.add_argument("--nice", type=int, default=10)
    check = sub.add_parser("check-endpoint", help="call a session endpoint as a run would")
    check.add_argument("--url", required=True)
    check.add_argument("--client-id", required=True)
    check.add_argument(
        "--secret-env", required=True, help="name of the environment variable holding the secret"
    )
    check.add_argument("--method", default="POST", choices=["POST", "GET"])
    check.add_argument("--header", default=DEFAULT_SECRET_HEADER)
    check.add_argument(
        "--uid", type=int, default=1, help="the uid we join as (the agent's join_uid)"
    )
    check.add_argument(
        "--join",
        type=float,
        metavar="SECONDS",
        help="also join and wait this long for the agent to speak",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("CEKURA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.command == "demo-stack":
        event_loop.run(_demo_stack(args))
    elif args.command == "channel-server":
        event_loop.run(_channel_server(args))
    elif args.command == "check-endpoint":
        return _check_endpoint(args)
    elif args.command == "hear-server":
        from .hearing import serve

        serve(args.threads, args.nice, cpu_policy=args.cpu_policy)
    elif args.command == "synth-server":
        from .synthesis import serve as serve_synthesis

        serve_synthesis(args.nice)
    return 0


if __name__ == "__main__":
    sys.exit(main())

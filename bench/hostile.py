"""Fairness under hostile input: one organization's worst runs must not stall another's.

The production stack of bench/load.py (Postgres, Redis, web, the calls and post workers, the
demo stack) on this machine. Organization B (a good tenant) runs one demo call alone (after a
warm-up call), to learn its normal start (launch → joining the channel). Then organization A
launches its worst: 20 runs against a session endpoint that accepts the connection and never
answers, one against an endpoint that drips its answer a byte a second, and one whose stored
scenario holds a 1 MB line (written to the database directly, as if stored before the API's
limits). Two seconds later B launches the same call again.

Every endpoint here is on loopback (the tests' settings allow 127.0.0.1 for session endpoints).

    .venv/bin/python bench/hostile.py [--calls 20] [--hostile 20]

Prints: B's start delay alone and under attack, whether B's calls completed, and for each of A's
runs its status, reason, and how long it took to end against its deadline.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import fresh_stack, sh  # noqa: E402

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET  # noqa: E402
from cekura.embedded import EmbeddedStack  # noqa: E402

DB = "cekura_hostile"
REDIS_DB = 13
LINES = [
    "Hi, I would like to book an appointment.",
    "Is Thursday morning free?",
    "Great, thank you.",
]
TERMINAL = ("completed", "failed", "timeout", "cancelled")


class Hostile(threading.Thread):
    """A loopback HTTP 'session endpoint' that never answers (mode "silent") or answers a byte
    a second (mode "drip"). Stops with the bench."""

    def __init__(self, mode: str) -> None:
        super().__init__(daemon=True)
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            if self.mode == "drip":
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        body = b'{"agora_app_id": "' + b"a" * 4000 + b'"}'
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)
        )
        try:
            for byte in head + body:
                conn.sendall(bytes([byte]))
                time.sleep(1.0)
        except OSError:
            return


def psql(sql: str) -> list[list[str]]:
    out = sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-AtF", "\t", "-c", sql)
    return [line.split("\t") for line in out.splitlines() if line]


def timings(run_ids: list[int]) -> dict[int, dict[str, float | str | None]]:
    """Seconds from each run's launch to its claim, its call's start and its end, with status
    and reason, from the database (the source of truth)."""
    rows = psql(
        "SELECT id, status, extract(epoch FROM executed_at - timestamp), extract(epoch FROM "
        "call_started_at - timestamp), "
        "extract(epoch FROM finished_at - timestamp), replace(left(error_message, 120), E'\\n', ' "
        "') "
        f"FROM test_framework_run WHERE id IN ({','.join(map(str, run_ids))})"
    )
    out: dict[int, dict[str, float | str | None]] = {}
    for pk, status, claimed, started, ended, error in rows:
        out[int(pk)] = {
            "status": status,
            "claimed": float(claimed) if claimed else None,
            "started": float(started) if started else None,
            "ended": float(ended) if ended else None,
            "error": error,
        }
    return out


def wait_ended(run_ids: list[int], timeout: float) -> dict[int, dict[str, float | str | None]]:
    deadline = time.monotonic() + timeout
    while True:
        t = timings(run_ids)
        if all(v["status"] in TERMINAL for v in t.values()) or time.monotonic() > deadline:
            return t
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--calls", type=int, default=20, help="threads of the calls worker (simultaneous calls)"
    )
    parser.add_argument(
        "--hostile", type=int, default=20, help="runs against the endpoint that never answers"
    )
    args = parser.parse_args()
    var = ROOT / "var" / "bench-hostile"
    # As production: post-processing waits for live calls.
    env = fresh_stack(DB, REDIS_DB, var, {"CEKURA_POST_YIELD_TO_CALLS_SECONDS": "600"})
    full = {**os.environ, **env}
    keys = {
        org: sh(
            sys.executable,
            "manage.py",
            "create_api_key",
            "--organization",
            org,
            "--credits",
            "100",
            env=full,
        )
        .strip()
        .split()[-1]
        for org in ("attacker", "tenant")
    }
    silent, drip = Hostile("silent"), Hostile("drip")
    silent.start()
    drip.start()

    with EmbeddedStack(
        env=env, web=True, worker_concurrency=args.calls, post_concurrency=1, log_dir=var / "logs"
    ) as stack:
        apis = {
            org: httpx.Client(base_url=stack.web_url, headers={"X-CEKURA-API-KEY": key}, timeout=60)
            for org, key in keys.items()
        }

        def agent(
            org: str, url: str, client_id: str = DEMO_CLIENT_ID, secret: str = DEMO_SECRET
        ) -> int:
            r = apis[org].post(
                "/test_framework/v1/aiagents/",
                json={
                    "agent_name": url.rsplit(":", 1)[-1],
                    "description": "",
                    "inbound": True,
                    "agora_data": {"session_endpoint_url": url, "client_id": client_id},
                    "agora_api_key": secret,
                },
            )
            assert r.status_code == 201, r.text
            return int(r.json()["id"])

        def scenario(org: str, agent_id: int, name: str) -> int:
            r = apis[org].post(
                "/test_framework/v1/scenarios/",
                json={
                    "name": name,
                    "agent": agent_id,
                    "scenario_type": "conditional_actions",
                    "first_message": LINES[0],
                    "conditional_actions": {
                        "conditions": [
                            {"condition": "", "action": line, "fixed_message": True}
                            for line in LINES[1:]
                        ]
                    },
                    "max_duration": 120,
                },
            )
            assert r.status_code == 201, r.text
            return int(r.json()["id"])

        def launch(org: str, agent_id: int, scenario_id: int, frequency: int = 1) -> list[int]:
            r = apis[org].post(
                "/test_framework/v1/scenarios/run_scenarios_agora/",
                json={"agent_id": agent_id, "scenarios": [scenario_id], "frequency": frequency},
            )
            assert r.status_code == 200, r.text
            return [run["id"] for run in r.json()["runs"]]

        good_agent = agent("tenant", stack.endpoint_url)
        good = scenario("tenant", good_agent, "Good tenant")
        # A warm-up (models load, the caller's lines are synthesised and cached), then the
        # normal start: the same call, alone.
        wait_ended(launch("tenant", good_agent, good), 300)
        alone = wait_ended(launch("tenant", good_agent, good), 300)
        print(
            "B alone:",
            *(
                f"{v['status']}, call started {v['started']:.2f} s after launch"
                for v in alone.values()
            ),
            flush=True,
        )

        silent_agent = agent("attacker", f"http://127.0.0.1:{silent.port}/session")
        drip_agent = agent("attacker", f"http://127.0.0.1:{drip.port}/session")
        big_agent = agent("attacker", stack.endpoint_url)
        big = scenario("attacker", big_agent, "A 1 MB line")
        psql(
            "UPDATE test_framework_scenario SET first_message = repeat('Hello there. ', 85000) "
            f"WHERE id = {big}"
        )
        hostile = launch(
            "attacker",
            silent_agent,
            scenario("attacker", silent_agent, "Never answers"),
            args.hostile,
        )
        hostile += launch("attacker", drip_agent, scenario("attacker", drip_agent, "Drips"))
        hostile += launch("attacker", big_agent, big)
        time.sleep(2)
        attacked = launch("tenant", good_agent, good)
        under = wait_ended(attacked, 300)
        ended = wait_ended(hostile, 600)

    alone_start = next(iter(alone.values()))["started"]
    b = next(iter(under.values()))
    print(f"\n== calls worker: {args.calls} threads; {os.cpu_count()} cores")
    started = None if b["started"] is None else float(b["started"])
    late = "n/a" if started is None else f"{started - float(alone_start or 0):+.2f} s"
    print(
        f"B's call start: alone {alone_start:.2f} s after launch, under attack "
        f"{started if started is None else round(started, 2)} s ({late}); B ended {b['status']}"
    )
    groups: dict[str, list[float]] = {}
    for v in ended.values():
        key = f"{v['status']}: {v['error']}"
        groups.setdefault(key, []).append(float(v["ended"] or float("nan")))
    print(f"A's {len(ended)} hostile runs:")
    for key, times in groups.items():
        print(
            f"  {len(times):3d} × {key[:140]}\n        ended {min(times):.1f}–{max(times):.1f} s "
            "after launch"
        )
    stuck = [pk for pk, v in ended.items() if v["status"] not in TERMINAL]
    met = (
        b["status"] == "completed"
        and started is not None
        and started - float(alone_start or 0) <= 5
        and not stuck
    )
    print(
        "targets (B starts within 5 s of its normal start and completes; every hostile run ends):",
        "MET" if met else "NOT MET",
    )


if __name__ == "__main__":
    main()

"""Load: many runs through the production stack on this machine, measured.

The stack is the one docker-compose runs, started as local processes: Postgres (a fresh
database on the local server) and Redis, the web server, **two Celery workers** (calls:
`-Q calls`, every call on one shared event loop, or with `--prefork` one child process per
simultaneous call; post-processing: `-Q post`, on idle CPU, waiting for live calls or, with
`--post-during-calls 1`, one task at a time while they are live), beat, and the demo stack
(local channel, session endpoint, demo agents). The demo agents answer in calibration mode
(fixed clips after a fixed delay), so the agents' side costs little and the figures are
those of the testing side: the caller's TTS, live hearing (ASR of each agent turn), pacing,
recording, then transcription and metrics.

Results are launched through the API while calls are under way, and `runs/bulk/` is polled
all along, so the API latencies are measured under load. Each run records its own caller's
send-time jitter (metadata.pacing); the number of calls in progress at each moment comes from
each run's call start and end.

    .venv/bin/python bench/load.py [--runs 200] [--results 8] [--calls 20] [--lines 3]
        [--distinct-lines] [--post 2] [--post-during-calls 0] [--post-yields 600]

Prints: calls per minute, runs per minute end to end (from the first call's start to the
last result, against calls per minute), simultaneous calls reached and the jitter at each
level, the most simultaneous calls held with every call's jitter p99 ≤ 5 ms, API latency p50/p99 of
run_scenarios_agora and runs/bulk/, CPU-seconds and peak memory per call, and whether
anything was lost (every run must end, and end completed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET  # noqa: E402
from cekura.embedded import EmbeddedStack  # noqa: E402

LINES = [
    "Hi, I would like to book an appointment.",
    "Is Thursday morning free?",
    "Great, thank you.",
    "Do you take walk ins?",
]
DB = "cekura_bench"
REDIS_DB = 12


def sh(*argv: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        argv, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout


def tree(pid: int) -> list[int]:
    """pid and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """user+system CPU of these processes, and of their children that have been reaped."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def status_mb(pid: int, field: str) -> float:
    """A memory figure of /proc/<pid>/status (VmHWM: peak resident; VmRSS: resident now), MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb(pid: int) -> float:
    return status_mb(pid, "VmHWM")


class Sampler(threading.Thread):
    """Samples CPU and peak memory of the worker process trees every second."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots, self.done = roots, threading.Event()
        self.peak_child_mb: dict[str, float] = {}
        self.tree_mb: dict[str, float] = {}  # resident memory of the whole tree, latest sample
        self.peak_tree_mb: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(1.0)

    def sample(self) -> None:
        for name, root in self.roots.items():
            pids = tree(root)
            self.cpu[name] = max(self.cpu.get(name, 0.0), cpu_seconds(pids))
            for pid in pids:
                self.peak_child_mb[name] = max(self.peak_child_mb.get(name, 0.0), peak_rss_mb(pid))
            self.tree_mb[name] = sum(status_mb(pid, "VmRSS") for pid in pids)
            self.peak_tree_mb[name] = max(self.peak_tree_mb.get(name, 0.0), self.tree_mb[name])


def timed(latencies: list[float], fn: Any, *a: Any, **kw: Any) -> httpx.Response:
    started = time.perf_counter()
    r = fn(*a, **kw)
    latencies.append((time.perf_counter() - started) * 1000)
    return r


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def fresh_stack(db: str, redis_db: int, var: Path, extra: dict[str, str]) -> dict[str, str]:
    """A new Postgres database (migrated) and an empty Redis database for a bench's stack, and
    the environment that points the stack at them (settings.test: the demo endpoint allowed;
    no rate limits; quiet logs)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for sql in (f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}"):
        sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql)
    env = {
        "DJANGO_SETTINGS_MODULE": "settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "CEKURA_MEDIA_ROOT": str(var / "media"),
        "CEKURA_LOG_LEVEL": "WARNING",
        **{
            name: "off"
            for name in (
                "CEKURA_RATE_LIMIT",
                "CEKURA_LAUNCH_RATE_LIMIT",
                "CEKURA_ORG_RATE_LIMIT",
                "CEKURA_ORG_LAUNCH_RATE_LIMIT",
            )
        },
        **extra,
    }
    sh("redis-cli", "-n", str(redis_db), "flushdb")
    sh(sys.executable, "manage.py", "migrate", "--noinput", "-v", "0", env={**os.environ, **env})
    return env


ENDED = ("completed", "failed", "timeout", "cancelled")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--results", type=int, default=8, help="the runs are spread over this many launches"
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=20,
        help="child processes of the calls worker: simultaneous calls",
    )
    parser.add_argument(
        "--post",
        type=int,
        default=2,
        help="child processes of the post-processing worker (docker-compose.yml: 2)",
    )
    parser.add_argument(
        "--post-during-calls",
        type=int,
        default=0,
        help="CEKURA_POST_PROCESSES_DURING_CALLS: post tasks that work while calls are live (the others wait)",  # noqa: E501
    )
    parser.add_argument(
        "--post-spare-cores",
        type=float,
        default=0.5,
        help="CEKURA_POST_SPARE_CORES: one more post task during calls for every this many idle cores (0: none)",  # noqa: E501
    )
    parser.add_argument(
        "--prefork",
        action="store_true",
        help="one process per call (CEKURA_CALLS_SHARED_LOOP=0) instead of every call on one shared loop",  # noqa: E501
    )
    parser.add_argument(
        "--post-yields",
        type=float,
        default=600,
        help="CEKURA_POST_YIELD_TO_CALLS_SECONDS: post-processing waits up to this long while calls are live (0: never)",  # noqa: E501
    )
    parser.add_argument(
        "--lines", type=int, default=3, help="caller lines per call (before goodbye)"
    )
    parser.add_argument(
        "--distinct-lines",
        action="store_true",
        help="every run says lines of its own (a scenario per run), so no transcript of a "
        "line is remembered from an earlier run: a suite's first run, not its reruns",
    )
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    return args


def main() -> None:
    args = _args()
    per_result = -(-args.runs // args.results)

    var = ROOT / "var" / "bench-load"
    env = fresh_stack(
        DB,
        REDIS_DB,
        var,
        {
            "CEKURA_AGENT_JOIN_TIMEOUT": "30",
            "CEKURA_RUN_STALE_AFTER_SECONDS": "300",
            "CEKURA_CALLS_SHARED_LOOP": "0" if args.prefork else "1",
            "CEKURA_POST_YIELD_TO_CALLS_SECONDS": str(args.post_yields),
            "CEKURA_POST_PROCESSES_DURING_CALLS": str(args.post_during_calls),
            "CEKURA_POST_SPARE_CORES": str(args.post_spare_cores),
        },
    )
    full = {**os.environ, **env}
    key = (
        sh(
            sys.executable,
            "manage.py",
            "create_api_key",
            "--organization",
            "bench",
            "--credits",
            str(args.runs + 10),
            env=full,
        )
        .strip()
        .split()[-1]
    )
    stack = EmbeddedStack(
        env=env,
        web=True,
        worker_concurrency=args.calls,
        post_concurrency=args.post,
        log_dir=var / "logs",
    )
    bulk_ms: list[float] = []
    launch_ms: list[float] = []
    run_ids: list[int] = []
    with stack:
        sampler = Sampler(
            {
                "calls worker": stack.named["worker"].pid,
                "post worker": stack.named["worker-post"].pid,
                "demo stack": stack.named["demo-stack"].pid,
                "web": stack.named["web"].pid,
            }
        )
        _wait_until_idle(stack, var)
        sampler.sample()
        cpu_before = dict(sampler.cpu)
        idle_mb = dict(sampler.tree_mb)
        sampler.start()
        api = httpx.Client(base_url=stack.web_url, headers={"X-CEKURA-API-KEY": key}, timeout=30)
        agent = api.post(
            "/test_framework/v1/aiagents/",
            json={
                "agent_name": "Demo (calibration)",
                "description": "",
                "inbound": True,
                # Fixed clips 300/600/900 ms after the caller stops: the agents cost little.
                "agora_data": {
                    "session_endpoint_url": stack.endpoint_url + "?calibrate=300,600,900",
                    "client_id": DEMO_CLIENT_ID,
                },
                "agora_api_key": DEMO_SECRET,
            },
        ).json()

        def scenario(lines: list[str]) -> int:
            made = api.post(
                "/test_framework/v1/scenarios/",
                json={
                    "name": "Load",
                    "agent": agent["id"],
                    "scenario_type": "conditional_actions",
                    "first_message": lines[0],
                    "conditional_actions": {
                        "conditions": [
                            {"condition": "", "action": line, "fixed_message": True}
                            for line in lines[1 : args.lines]
                        ]
                    },
                    "max_duration": 120,
                },
            )
            assert made.status_code == 201, made.text
            return int(made.json()["id"])

        if args.distinct_lines:  # the same lines, each with the run's own number in it
            scenarios = [
                scenario([f"{line[:-1]}, caller {k + 1}{line[-1]}" for line in LINES])
                for k in range(args.runs)
            ]
        else:
            scenarios = [scenario(LINES)] * args.runs
        started = time.monotonic()
        stop_polling = threading.Event()

        def poll() -> None:
            while not stop_polling.is_set():
                ids = list(run_ids[-50:])
                if ids:
                    timed(
                        bulk_ms,
                        api.get,
                        "/test_framework/v1/runs/bulk/",
                        params={"run_ids": ",".join(map(str, ids))},
                    )
                stop_polling.wait(0.5)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        launched = 0
        while launched < args.runs:
            n = min(per_result, args.runs - launched)
            r = timed(
                launch_ms,
                api.post,
                "/test_framework/v1/scenarios-external/run_scenarios_agora/",
                json={
                    "agent_id": agent["id"],
                    "scenarios": scenarios[launched : launched + n]
                    if args.distinct_lines
                    else scenarios[:1],
                    "frequency": 1 if args.distinct_lines else n,
                    "name": f"load {launched // per_result + 1}",
                },
            )
            assert r.status_code == 200, r.text
            run_ids += [run["id"] for run in r.json()["runs"]]
            launched += n
            print(
                f"launched {launched}/{args.runs} at {time.monotonic() - started:.0f} s", flush=True
            )
            time.sleep(5)  # launches spread over the first part of the load
        runs = _poll_until_ended(api, run_ids, started, args.timeout)
        elapsed = time.monotonic() - started
        stop_polling.set()
        poller.join()  # before the web server goes: a request cut off mid-way is not a result
        sampler.done.set()
        sampler.join()
        sampler.sample()

    _report(args, runs, run_ids, elapsed, sampler, cpu_before, idle_mb, launch_ms, bulk_ms)


def _wait_until_idle(stack: EmbeddedStack, var: Path) -> None:
    """Workers load their models as they start (as in a deployment that is up before work
    arrives): wait until both are ready and idle, so the load measured is the calls'."""
    workers = (stack.named["worker"].pid, stack.named["worker-post"].pid)
    warm_started = time.monotonic()
    while time.monotonic() - warm_started < 300:
        before = sum(cpu_seconds(tree(pid)) for pid in workers)
        time.sleep(3)
        after = sum(cpu_seconds(tree(pid)) for pid in workers)
        if after - before < 0.3 and "ready" in (var / "logs" / "worker.log").read_text():
            break
    print(f"workers ready and idle after {time.monotonic() - warm_started:.0f} s", flush=True)


def _poll_until_ended(
    api: httpx.Client, run_ids: list[int], started: float, timeout: float
) -> list[dict[str, Any]]:
    """The runs, read every 2 s until all have ended (or `timeout` s after `started`)."""
    runs: list[dict[str, Any]] = []
    while time.monotonic() - started < timeout:
        runs = []
        for i in range(0, len(run_ids), 100):
            runs += api.get(
                "/test_framework/v1/runs/bulk/",
                params={"run_ids": ",".join(map(str, run_ids[i : i + 100]))},
            ).json()
        done = sum(r["status"] in ENDED for r in runs)
        calls_over = sum(r["status"] not in ("in_queue", "running", "pending") for r in runs)
        print(
            f"{time.monotonic() - started:5.0f} s: calls over {calls_over}/{len(runs)}, ended "
            f"{done}",
            flush=True,
        )
        if done == len(run_ids):
            break
        time.sleep(2)
    return runs


def _call_spans(runs: list[dict[str, Any]]) -> list[tuple[float, float, dict[str, Any]]]:
    """(call start, call end, the caller's pacing) of every run whose call happened."""
    spans = []
    for r in runs:
        meta = r.get("metadata") or {}
        if r.get("executed_at") and meta.get("call_ended_at"):
            spans.append(
                (
                    datetime.fromisoformat(r["executed_at"]).timestamp(),
                    datetime.fromisoformat(meta["call_ended_at"]).timestamp(),
                    meta.get("pacing") or {},
                )
            )
    return spans


def _ready_times(runs: list[dict[str, Any]]) -> list[float]:
    """When each run's result was ready (its call's end plus metadata.ready_after_call_s)."""
    out = []
    for r in runs:
        meta = r.get("metadata") or {}
        if meta.get("call_ended_at") and meta.get("ready_after_call_s") is not None:
            ended = datetime.fromisoformat(meta["call_ended_at"]).timestamp()
            out.append(ended + float(meta["ready_after_call_s"]))
    return out


def _peaks(spans: list[tuple[float, float, dict[str, Any]]]) -> list[tuple[int, float]]:
    """The most calls at once during each call, and that call's jitter p99."""
    peaks = []
    for s, e, pacing in spans:
        points = [s] + [x for x, _, _ in spans if s < x < e]
        peaks.append(
            (
                max(sum(1 for a, b, _ in spans if a <= t < b) for t in points),
                pacing.get("p99_ms", float("nan")),
            )
        )
    return peaks


def _report(
    args: argparse.Namespace,
    runs: list[dict[str, Any]],
    run_ids: list[int],
    elapsed: float,
    sampler: Sampler,
    cpu_before: dict[str, float],
    idle_mb: dict[str, float],
    launch_ms: list[float],
    bulk_ms: list[float],
) -> None:
    ended = [r for r in runs if r["status"] in ENDED]
    completed = [r for r in ended if r["status"] == "completed"]
    spans = _call_spans(runs)
    first = min(s for s, _, _ in spans)
    last_call_end = max(e for _, e, _ in spans)
    peaks = _peaks(spans)
    levels = sorted({p for p, _ in peaks})
    held = 0
    for level in levels:
        if all(j <= 5 for p, j in peaks if p <= level):
            held = level
    cpu = {k: sampler.cpu.get(k, 0.0) - cpu_before.get(k, 0.0) for k in sampler.cpu}

    print(
        f"\n== {len(run_ids)} runs over {args.results} results; calls worker with {args.calls} "
        f"{'processes' if args.prefork else 'threads on one shared loop'}, post worker with "
        f"{args.post}{f' ({args.post_during_calls} at a time while calls are live, one more per {args.post_spare_cores:g} idle cores, the others wait up to {args.post_yields:g} s)' if args.post_yields else ''}; {os.cpu_count()} cores"  # noqa: E501
    )
    print(
        f"ended {len(ended)}/{len(run_ids)}, completed {len(completed)}; lost: "
        f"{len(run_ids) - len(ended)}"
    )
    failures = Counter(
        f"{r['status']}: {r['error_message'][:80]}" for r in ended if r["status"] != "completed"
    )
    for reason, n in failures.items():
        print(f"  {n} × {reason}")
    calls_rate = len(spans) / ((last_call_end - first) / 60)
    ready = _ready_times(runs)
    print(
        f"calls per minute: {calls_rate:.1f} (calls alone); all done in {elapsed:.0f} s from the "
        f"first launch, {len(ended) / (elapsed / 60):.1f} runs/min end to end"
    )
    results_rate = len(ready) / ((max(ready) - first) / 60) if ready else 0.0
    share = 100 * results_rate / calls_rate  # of calls per minute: issue 24's target
    if ready:
        print(
            f"runs per minute end to end, from the first call's start to the last result: "
            f"{results_rate:.1f} ({share:.0f} % of calls per minute; "
            f"the last result {max(ready) - last_call_end:.1f} s after the last call ended)"
        )
    print("simultaneous calls (the most during each call) → that call's send-time jitter p99:")
    for level in levels:
        js = [j for p, j in peaks if p == level]
        print(
            f"  {level:3d}: {len(js):3d} calls, jitter p99 median {np.median(js):.2f} ms, worst "
            f"{max(js):.2f} ms"
        )
    print(f"most simultaneous calls held with every call's jitter p99 <= 5 ms: {held}")
    scheduled = Counter(str(pacing.get("scheduled", "?")) for _, _, pacing in spans)
    print(
        "the calls loop was scheduled (metadata.pacing.scheduled): "
        + ", ".join(f"{how} ({n} calls)" for how, n in scheduled.most_common())
    )
    print(
        f"API latency under load: run_scenarios_agora p50 {pct(launch_ms, 50):.0f} ms, p99 "
        f"{pct(launch_ms, 99):.0f} ms (n={len(launch_ms)}); "
        f"runs/bulk/ (50 ids) p50 {pct(bulk_ms, 50):.0f} ms, p99 {pct(bulk_ms, 99):.0f} ms "
        f"(n={len(bulk_ms)})"
    )
    n = max(len(spans), 1)
    call_minutes = max(sum(e - s for s, e, _ in spans) / 60, 1e-9)
    post_per_minute = cpu.get("post worker", 0) / call_minutes
    print(
        f"CPU-seconds per call: calls worker {cpu.get('calls worker', 0) / n:.2f}, post-processing "
        f"{cpu.get('post worker', 0) / n:.2f} ({post_per_minute:.2f} per minute of call); "
        f"outside the testing side: demo agents and channel {cpu.get('demo stack', 0) / n:.2f}, "
        f"web {cpu.get('web', 0) / n:.2f}"
    )
    print(
        "peak memory of one worker process: calls "
        f"{sampler.peak_child_mb.get('calls worker', 0):.0f} MB (the largest process of its tree), "
        f"post {sampler.peak_child_mb.get('post worker', 0):.0f} MB"
    )
    most = max((p for p, _ in peaks), default=1)
    grown = sampler.peak_tree_mb.get("calls worker", 0.0) - idle_mb.get("calls worker", 0.0)
    print(
        f"memory per call: {grown / most:.0f} MB (the calls worker's whole tree, resident: "
        f"{idle_mb.get('calls worker', 0):.0f} MB idle, "
        f"{sampler.peak_tree_mb.get('calls worker', 0):.0f} MB at most, over {most} simultaneous "
        "calls)"
    )
    target = held >= 20 and len(completed) == len(run_ids)
    print(
        "targets (>= 20 simultaneous calls with jitter p99 <= 5 ms; nothing lost):",
        "MET" if target else "NOT MET",
    )
    print(
        f"targets (post-processing <= 2 CPU-s per minute of call: {post_per_minute:.2f}; runs per "
        f"minute end to end >= 90 % of calls per minute: {share:.0f} %):",
        "MET" if post_per_minute <= 2 and share >= 90 else "NOT MET",
    )


if __name__ == "__main__":
    main()

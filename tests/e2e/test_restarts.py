"""The production stack end to end, with Redis and Postgres restarted for real while a result
runs. The stack (web server, call worker, post-processing worker, demo stack) runs against a
private Postgres cluster and a private Redis started here, so the test can stop and start them
without touching the shared servers. Everything goes through the HTTP API."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from cekura.embedded import ROOT, EmbeddedStack, free_port, wait_for_port
from evaluators.text import word_error_rate

pytestmark = [pytest.mark.e2e]
TERMINAL = {"completed", "failed", "timeout", "cancelled"}
LINES = ["Hi, I would like to book an appointment.", "Thursday would be great."]


class Redis:
    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir, self.proc = port, workdir, None

    def start(self) -> None:
        # As on the machine and in compose: nothing kept on disk, so a restart loses every message.
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 10, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Postgres:
    """A throwaway cluster, owned by the postgres user (the server refuses to run as root)."""

    def __init__(self, port: int) -> None:
        # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
        self.port, self.dir = port, Path(tempfile.mkdtemp(prefix="cekura-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._as_owner(
            ["initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync"]
        )

    def _as_owner(self, argv: list[str]) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            prefix + argv,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=60,
        )

    def _ctl(self, action: str) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_owner(
            [
                "pg_ctl",
                "-D",
                str(self.dir / "data"),
                "-o",
                opts,
                "-l",
                str(self.dir / "log"),
                "-m",
                "fast",
                "-w",
                action,
            ]
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[tuple[EmbeddedStack, Redis, Postgres, str]]:
    if not shutil.which("redis-server") or not shutil.which("initdb"):
        pytest.skip("redis-server and initdb are needed for the restart test")
    redis, pg = Redis(free_port(), tmp_path), Postgres(free_port())
    redis.start()
    pg.start()
    env = {
        "DJANGO_SETTINGS_MODULE": "settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{pg.port}/postgres",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CEKURA_MEDIA_ROOT": str(tmp_path / "media"),
        "CEKURA_LOG_LEVEL": "INFO",
    }
    full = {**os.environ, **env}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=full,
        check=True,
        timeout=120,
    )
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_api_key",
            "--organization",
            "restarts",
            "--credits",
            "10",
        ],
        cwd=ROOT,
        env=full,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    key = out.strip().splitlines()[-1].split()[-1]
    stack = EmbeddedStack(env=env, web=True, worker_concurrency=2, log_dir=tmp_path / "logs")
    try:
        with stack:
            yield stack, redis, pg, key
    finally:
        redis.stop()
        pg.remove()


def _get(api: httpx.Client, path: str) -> Any:
    """GET that rides out the API's own database going away (503/500 or no answer)."""
    for _ in range(60):
        try:
            r = api.get(path)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"GET {path} kept failing")


def _wait_running(api: httpx.Client, run_id: int, logs: Path, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _get(api, f"/test_framework/v1/runs/{run_id}/")["status"] == "running":
            time.sleep(seconds)  # well into the call
            return
        time.sleep(0.25)
    raise AssertionError("the run never started:\n" + (logs / "worker.log").read_text()[-3000:])


def test_a_result_finishes_through_a_redis_restart_and_a_postgres_restart(
    private_stack: Any,
) -> None:
    stack, redis, pg, key = private_stack
    logs = stack.log_dir
    api = httpx.Client(base_url=stack.web_url, headers={"X-CEKURA-API-KEY": key}, timeout=10)
    agent = api.post(
        "/test_framework/v1/aiagents/",
        json={
            "agent_name": "Demo",
            "description": "",
            "inbound": True,
            "agora_data": {"session_endpoint_url": stack.endpoint_url, "client_id": DEMO_CLIENT_ID},
            "agora_api_key": DEMO_SECRET,
        },
    ).json()
    scenario = api.post(
        "/test_framework/v1/scenarios/",
        json={
            "name": "Booking",
            "agent": agent["id"],
            "scenario_type": "conditional_actions",
            "first_message": LINES[0],
            "conditional_actions": {
                "conditions": [{"condition": "", "action": LINES[1], "fixed_message": True}]
            },
            "expected_outcome_prompt": 'Books it: "appointment is on Thursday".',
        },
    ).json()
    launch = api.post(
        "/test_framework/v1/scenarios-external/run_scenarios_agora/",
        json={
            "agent_id": agent["id"],
            "scenarios": [scenario["id"]],
            "frequency": 2,
            "concurrency_limit": 1,
        },
    )
    assert launch.status_code == 200, launch.text
    result_id, (first, second) = launch.json()["id"], [r["id"] for r in launch.json()["runs"]]

    _wait_running(api, first, logs)
    redis.stop()  # the broker goes away mid-call, losing every message it held
    time.sleep(2)
    redis.start()

    # The second run is dispatched through the restarted broker when the first call ends.
    _wait_running(api, second, logs)
    pg.stop()  # the database goes away mid-call: heartbeats fail, the worker waits it out
    time.sleep(3)
    pg.start()

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        result = _get(api, f"/test_framework/v1/results/{result_id}/")
        if result["status"] in TERMINAL:
            break
        assert stack.alive(), (logs / "worker.log").read_text()[-3000:]
        time.sleep(1)
    else:
        raise AssertionError(
            "the result never finished:\n"
            + (logs / "worker.log").read_text()[-3000:]
            + (logs / "worker-post.log").read_text()[-3000:]
        )
    runs = [_get(api, f"/test_framework/v1/runs/{i}/") for i in (first, second)]
    for run in runs:
        assert run["status"] == "completed" and run["success"] is True, (
            run["status"],
            run["error_message"],
            run["expected_outcome"],
        )
        caller = [t["content"] for t in run["transcript_object"] if t["role"] == "Testing Agent"]
        assert len(caller) == len(LINES) + 1  # the scripted lines, then the goodbye
        said, heard = " ".join(LINES), " ".join(caller[: len(LINES)])
        assert word_error_rate(said, heard) <= 0.3, (said, heard)
        agent_text = " ".join(
            t["content"] for t in run["transcript_object"] if t["role"] == "Main Agent"
        ).lower()
        assert "thank you for calling" in agent_text and "thursday" in agent_text
        recording = api.get(f"/test_framework/v1/runs/{run['id']}/recording/")
        assert (
            recording.status_code == 200
            and recording.headers["Content-Type"] == "audio/wav"
            and len(recording.content) > 100_000
        )
    assert (result["status"], result["success_rate"]) == ("completed", 100.0)
    assert (
        result["total_runs_count"],
        result["success_runs_count"],
        result["failed_runs_count"],
    ) == (2, 2, 0)
    # concurrency_limit 1 limits calls: the second call began after the first call ended.
    assert datetime.fromisoformat(runs[1]["executed_at"]) >= datetime.fromisoformat(
        runs[0]["metadata"]["call_ended_at"]
    )
    text = (logs / "worker.log").read_text()
    assert (
        "database unreachable" in text or "heartbeat failed" in text
    )  # the outage was felt, and ridden out
    # Celery's Redis transport may give up on the broker restart while it holds a message (a
    # known kombu failure); the embedded supervisor brings the worker back, as compose's
    # restart policy does. Either way nothing was lost.
    print("worker restarts:", stack.restarts)
    # Calls and post-processing ran on their own workers; no log line of the stack carries the
    # secret, a join token (AccessToken2 text starts "007eJ") or the API key; run lines name the
    # run.
    for name, task in (
        ("worker", "run_execute"),
        ("worker-post", "run_postprocess"),
        ("demo-stack", ""),
        ("web", ""),
    ):
        log = (logs / f"{name}.log").read_text()
        assert task in log, name
        assert DEMO_SECRET not in log and "007eJ" not in log and key not in log, name
    assert f"run={first} result={result_id}" in (logs / "worker-post.log").read_text()

"""`make demo`: what a new user does, end to end, on the embedded default."""

from __future__ import annotations

import time
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from cekura.accounts.models import ApiKey
from cekura.accounts.services import api_key_create, credits_add, organization_get_or_create
from cekura.embedded import EmbeddedStack
from test_framework.choices import TERMINAL
from test_framework.management.embedded import prepare_database

SCENARIOS = [
    {
        "name": "Book an appointment",
        "lines": ["Hi, I would like to book an appointment.", "Tuesday would be great."],
        "expected": 'The agent books the appointment and says "appointment is on Tuesday".',
    },
    {
        "name": "Ask for opening hours",
        "lines": ["Hello, when are you open?"],
        "expected": 'The agent gives the opening hours: "Monday to Friday".',
    },
    {
        "name": "Prescription refill",
        "lines": ["Hi, I need a refill of my prescription."],
        "expected": 'The agent confirms "refill request".',
    },
]


class Command(BaseCommand):
    help = "Start the embedded stack, create a key, agent and three scenarios, run them over HTTP, print results."  # noqa: E501

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--timeout", type=float, default=600.0, help="seconds to wait for the runs"
        )

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def handle(self, *args: Any, **options: Any) -> None:
        self.say("==> Preparing the database (SQLite, embedded default)")
        prepare_database()
        org = organization_get_or_create(name="Demo organization")
        if org.credits < 100:
            credits_add(organization=org, amount=100)
        # Each demo mints a fresh key; the ones earlier demos minted are revoked, so repeated
        # demos never reach the organization's cap on live keys.
        ApiKey.objects.filter(organization=org, name="make demo", revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        _, api_key = api_key_create(organization=org, name="make demo")
        self.say(f"==> Organization {org.name!r}, new API key {api_key[:10]}… (100 credits)")
        self.say("==> Starting local channel, demo agent + session endpoint, worker and web server")
        with EmbeddedStack(log_dir=settings.VAR_DIR / "logs") as stack:
            self.say(
                f"    web {stack.web_url}  endpoint {stack.endpoint_url}  channel "
                f"{stack.channel_address}"
            )
            ok = self._run(stack, api_key, options["timeout"])
        if not ok:
            raise CommandError(
                "not every run completed; see var/logs/ for the worker and demo agent logs"
            )

    def _run(self, stack: EmbeddedStack, api_key: str, timeout: float) -> bool:
        api = httpx.Client(
            base_url=stack.web_url + "/test_framework/v1",
            headers={"X-CEKURA-API-KEY": api_key},
            timeout=30,
        )
        agent = _ok(
            api.post(
                "/aiagents/",
                json={
                    "agent_name": "Sunny Clinic receptionist (demo)",
                    "description": "The demo voice agent in a local Agora-compatible channel",
                    "inbound": True,
                    "assistant_provider": "agora",
                    "agora_data": {
                        "session_endpoint_url": stack.endpoint_url,
                        "client_id": DEMO_CLIENT_ID,
                    },
                    "agora_api_key": DEMO_SECRET,
                },
            )
        )
        self.say(f"==> Agent {agent['id']} configured with session endpoint {stack.endpoint_url}")
        ids = []
        for sc in SCENARIOS:
            conditions = [
                {
                    "id": i,
                    "condition": "after the agent answers",
                    "action": line,
                    "type": "standard",
                    "fixed_message": True,
                }
                for i, line in enumerate(sc["lines"][1:], start=1)
            ]
            body = {
                "name": sc["name"],
                "agent": agent["id"],
                "scenario_type": "conditional_actions" if conditions else "instruction",
                "instructions": "Act as a patient calling the clinic.",
                "first_message": sc["lines"][0],
                "conditional_actions": {"role": "patient", "conditions": conditions}
                if conditions
                else None,
                "expected_outcome_prompt": sc["expected"],
            }
            ids.append(_ok(api.post("/scenarios/", json=body))["id"])
        self.say(f"==> Scenarios {ids}; POST /scenarios-external/run_scenarios_agora/")
        launch = _ok(
            api.post(
                "/scenarios-external/run_scenarios_agora/",
                json={
                    "agent_id": agent["id"],
                    "scenarios": ids,
                    "frequency": 1,
                    "name": "make demo",
                },
            )
        )
        run_ids = ",".join(str(r["id"]) for r in launch["runs"])
        self.say(f"    result {launch['id']} status {launch['status']}, runs {run_ids}")
        start = time.monotonic()
        runs: list[dict[str, Any]] = []
        last = ""
        while time.monotonic() - start < timeout:
            runs = _ok(api.get("/runs/bulk/", params={"run_ids": run_ids}))
            done = sum(r["status"] in TERMINAL for r in runs)
            line = (
                f"    [{int(time.monotonic() - start):4d}s] {done}/{len(runs)} done: "
                + ", ".join(r["status"] for r in runs)
            )
            if line.split("]")[1] != last:
                self.say(line)
                last = line.split("]")[1]
            if done == len(runs):
                break
            if not stack.alive():
                self.say("    a child process died; see var/logs/")
                break
            time.sleep(2)
        result = _ok(api.get(f"/results/{launch['id']}/"))
        self._table(runs)
        self.say(
            f"==> Result {result['id']}: {result['status']}, success rate "
            f"{result['success_rate']:.0f}%, "
            f"{result['success_runs_count']}/{result['total_runs_count']} runs succeeded, total "
            f"duration {result['total_duration']}"
        )
        self.say(
            "==> Recordings (stereo WAV: caller left, agent right) under "
            f"{settings.MEDIA_ROOT}/recordings/"
        )
        for r in runs:
            if r.get("voice_recording_url"):
                self.say(
                    f"    run {r['id']}: {r['voice_recording_url']}  (GET with your "
                    "X-CEKURA-API-KEY)"
                )
        return bool(runs) and all(r["status"] == "completed" for r in runs)

    def _table(self, runs: list[dict[str, Any]]) -> None:
        self.say("")
        self.say(
            "(ready: seconds from the hang-up to the scored result, and that as a share of "
            "the call)"
        )
        header = f"{'scenario':<24} {'status':<10} {'success':<8} {'duration':<8} {'p50 ms':>7} {'ready':>9}  {'ended reason':<26} first lines"  # noqa: E501
        self.say(header)
        self.say("-" * len(header))
        for r in runs:
            p50 = next(
                (
                    m.get("extra", {}).get("percentiles", {}).get("p50")
                    for m in r["evaluation"].get("metrics", [])
                    if m["name"] == "Latency"
                ),
                None,
            )
            lines = [t for t in (r.get("transcript") or "").splitlines() if t][:2]
            self.say(
                f"{r['scenario_name'][:24]:<24} {r['status']:<10} {str(r['success']):<8} "
                f"{str(r['duration'] or '-'):<8} "
                f"{(f'{p50:.0f}' if p50 is not None else '-'):>7} "
                f"{_ready(r):>9}  "
                f"{str(r['metadata'].get('ended_reason') or '-'):<26} "
                + (" | ".join(lines) if lines else (r.get("error_message") or ""))
            )
        self.say("")


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise CommandError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response.json()


def _ready(run: dict[str, Any]) -> str:
    """Seconds from the hang-up to the scored result, with that as a share of the call."""
    meta = run.get("metadata") or {}
    after, ratio = meta.get("ready_after_call_s"), meta.get("ready_after_call_ratio")
    if after is None:
        return "-"
    return f"{after:.0f}s" + (f"/{ratio:.1f}x" if ratio is not None else "")

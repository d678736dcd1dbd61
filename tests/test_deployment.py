"""docker-compose.yml cannot be run here (no Docker engine); this keeps it honest by
checking that every service's command names something the project really has."""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dependencies() -> list[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in deps]


def check_command(argv: list[str]) -> None:
    if argv[:2] == ["python", "manage.py"]:
        from django.core.management import get_commands

        assert argv[2] in get_commands(), f"no management command {argv[2]!r}"
    elif argv[:3] == ["python", "-m", "agora_runner"]:
        from agora_runner.__main__ import main

        try:
            main([argv[3], "--help"])
        except SystemExit as exc:
            assert exc.code == 0, f"agora_runner has no subcommand {argv[3]!r}"
    elif argv[0] == "celery":
        assert "celery" in dependencies()
        app = argv[argv.index("-A") + 1]
        assert hasattr(importlib.import_module(app), "celery_app")
        from django.conf import settings

        sub = argv[argv.index("-A") + 2]
        assert sub == "worker", f"unexpected celery subcommand {sub!r}"
        queue = argv[argv.index("-Q") + 1]
        assert queue in (
            settings.CELERY_CALLS_QUEUE,
            settings.CELERY_POST_QUEUE,
            settings.CELERY_MAINTENANCE_QUEUE,
        )
        if "--beat" in argv:  # beat schedules tasks that exist, onto the queue it consumes
            from cekura.celery import app as celery_app

            celery_app.loader.import_default_modules()
            for entry in settings.CELERY_BEAT_SCHEDULE.values():
                assert entry["task"] in celery_app.tasks, (
                    f"beat schedules an unknown task {entry['task']!r}"
                )
                assert settings.CELERY_TASK_ROUTES[entry["task"]]["queue"] == queue
    elif argv[0] == "gunicorn":
        assert "gunicorn" in dependencies()
        module, _, attr = argv[1].partition(":")
        assert hasattr(importlib.import_module(module), attr)
    else:
        raise AssertionError(f"unknown command {argv}")


def test_every_compose_command_exists_in_the_project() -> None:
    services = compose()["services"]
    long_running = {"web", "worker", "worker-post", "maintenance", "demo"}
    assert {"postgres", "redis", "migrate", *long_running} <= set(services)
    queues = {
        shlex.split(services[n]["command"])[shlex.split(services[n]["command"]).index("-Q") + 1]
        for n in ("worker", "worker-post", "maintenance")
    }
    from django.conf import settings

    assert queues == {
        settings.CELERY_CALLS_QUEUE,
        settings.CELERY_POST_QUEUE,
        settings.CELERY_MAINTENANCE_QUEUE,
    }  # every queue is consumed
    beats = [n for n, svc in services.items() if "--beat" in str(svc.get("command", ""))]
    assert beats == ["maintenance"]  # exactly one beat
    # Every task is routed to a queue some worker consumes.
    assert {r["queue"] for r in settings.CELERY_TASK_ROUTES.values()} <= queues
    commands = 0
    for name, svc in services.items():
        if "command" in svc and "image" not in svc:
            argv = (
                svc["command"] if isinstance(svc["command"], list) else shlex.split(svc["command"])
            )
            check_command(argv)
            commands += 1
            assert svc.get("build") == "." and (ROOT / "Dockerfile").exists(), name
    assert commands == 6  # migrate, web, worker, worker-post, maintenance, demo
    for name in long_running:  # brought back if they exit
        assert services[name].get("restart") == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"


def test_dockerfile_copies_every_package_and_uses_production_settings() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for pkg in (
        "settings",
        "cekura",
        "test_framework",
        "agora_runner",
        "evaluators",
        "common",
        "manage.py",
    ):
        assert f"COPY {pkg}" in text
    assert "settings.production" in text
    check_command(shlex.split("gunicorn cekura.wsgi:application"))


def test_a_post_processing_worker_can_run_on_idle_cpu_only() -> None:
    """CEKURA_WORKER_CPU_POLICY=idle puts the worker's threads in Linux's SCHED_IDLE class (and
    the threads they start later inherit it); a misspelt policy is refused with the choices."""
    import subprocess
    import sys

    from agora_runner.cpu import set_cpu_policy

    code = (
        "import os, threading; from agora_runner.cpu import set_cpu_policy; "
        "set_cpu_policy('idle'); "
        "seen = []; t = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0))); "
        "t.start(); t.join(); "
        "print(os.sched_getscheduler(0) == os.SCHED_IDLE, seen[0] == os.SCHED_IDLE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["True", "True"]
    with pytest.raises(ValueError, match="must be one of normal, batch, idle"):
        set_cpu_policy("lowest")
    set_cpu_policy("normal")  # the default: nothing changes


def test_the_calls_loop_paces_real_time_where_it_may_and_says_so_where_it_may_not() -> None:
    """CEKURA_CALLS_PACING_PRIORITY: the thread that paces frames runs SCHED_FIFO, and the
    threads it starts run as normal tasks. docker-compose grants the calls worker the
    capability it takes. Without it (setpriv drops it) the thread stays as it was, and says
    so; 0 leaves it. A pool thread paced for one call goes back to what it was."""
    import shutil
    import subprocess
    import sys

    from agora_runner.cpu import pacing_first, scheduling

    assert "SYS_NICE" in compose()["services"]["worker"].get("cap_add", [])
    code = (
        "import threading; from agora_runner.cpu import pace_first, scheduling; "
        "print(pace_first(0), end=' '); print(pace_first(7), scheduling(), end=' '); "
        "seen = []; t = threading.Thread(target=lambda: seen.append(scheduling())); "
        "t.start(); t.join(); print(seen[0])"
    )

    def run(*prefix: str) -> str:
        return subprocess.run(
            [*prefix, sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        ).stdout.strip()

    if not shutil.which("setpriv"):
        pytest.skip("util-linux's setpriv is needed to run without CAP_SYS_NICE")
    unprivileged = run("setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice")
    assert unprivileged == "normal normal normal normal"
    privileged = run()
    if privileged.startswith("normal normal"):  # no CAP_SYS_NICE here either
        pytest.skip("this machine grants no real-time scheduling")
    assert privileged == "normal realtime 7 realtime 7 normal"

    before = scheduling()
    with pacing_first(7) as got:
        assert got == scheduling() == "realtime 7"
    assert scheduling() == before


def test_every_environment_variable_the_settings_read_is_in_the_readme() -> None:
    """The README's configuration table is the users' reference: nothing the settings read may
    be missing from it."""
    read = set()
    for path in (ROOT / "settings").glob("*.py"):
        read |= set(
            re.findall(
                r"""(?:env(?:\.\w+)?|environ\.get|environ|getenv)[(\[]\s*["']([A-Z][A-Z0-9_]+)["']""",
                path.read_text(),
            )
        )
    assert len(read) > 40  # the pattern still finds them
    read -= {"PYTEST_XDIST_WORKER"}  # set by pytest-xdist for the tests, not by a user
    readme = (ROOT / "README.md").read_text()
    assert sorted(v for v in read if f"`{v}`" not in readme) == []

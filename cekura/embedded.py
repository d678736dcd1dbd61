"""Starts the embedded stack as child processes: the demo stack (local channel, demo
session endpoint, demo agent), a Celery worker and the web server. Used by
`manage.py serve_embedded`, `manage.py demo` and the end-to-end tests."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"demo-stack ready channel=(\S+) endpoint=(\S+)")


def calls_shared_loop(env: dict[str, str]) -> bool:
    """CEKURA_CALLS_SHARED_LOOP as settings/base.py reads it (django-environ's booleans;
    on when unset)."""
    import environ

    value = env.get("CEKURA_CALLS_SHARED_LOOP")
    return True if value is None or value == "" else value.strip().lower() in environ.Env.BOOLEAN_TRUE_STRINGS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:g} s")


@dataclass
class EmbeddedStack:
    env: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 2
    post_concurrency: int = 1
    web: bool = True
    log: Callable[[str], None] = print
    log_dir: Path | None = None
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    files: list[Any] = field(default_factory=list)
    named: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    _specs: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    _unsupervised: set[str] = field(default_factory=set)
    _stopping: threading.Event = field(default_factory=threading.Event)
    channel_address: str = ""
    endpoint_url: str = ""
    web_url: str = ""

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str], mode: str = "w") -> subprocess.Popen[str]:
        out = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", mode)  # noqa: SIM115 - closed in stop()
            self.files.append(out)
        self._specs[name] = (args, env)
        # Each child leads its own process group, so it can be killed with everything it forked.
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.procs.append(proc)
        self.named[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL a child and every process it forked (a crash, for fault tests); it stays
        dead (not restarted by the supervisor)."""
        self._unsupervised.add(name)
        proc = self.named[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)

    def start(self) -> EmbeddedStack:
        env = self._env()
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        # Demo stack first: its ready line tells where the channel and endpoint listen.
        demo = subprocess.Popen(
            [sys.executable, "-m", "agora_runner", "demo-stack", "--channel-port", "0", "--endpoint-port", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.procs.append(demo)
        deadline = time.monotonic() + 120
        assert demo.stdout is not None
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                raise RuntimeError("demo stack exited while starting:\n" + "".join(lines[-20:]))
            lines.append(line)
            m = READY.search(line)
            if m:
                self.channel_address, self.endpoint_url = m.group(1), m.group(2)
                break
        else:
            raise RuntimeError("demo stack did not become ready within 120 s")
        threading.Thread(target=self._drain, args=(demo, "demo-stack"), daemon=True).start()
        env["CEKURA_LOCAL_CHANNEL"] = self.channel_address
        self.env["CEKURA_LOCAL_CHANNEL"] = self.channel_address
        beat_file = (self.log_dir or Path(tempfile.gettempdir())) / f"celerybeat-{os.getpid()}"
        common = [sys.executable, "-m", "celery", "-A", "cekura", "worker", "-l", "INFO",
                  "--without-gossip", "--without-mingle", "--without-heartbeat"]
        # All calls on one shared event loop in one process (threads pool; the default), or one
        # process per call (prefork, CEKURA_CALLS_SHARED_LOOP=0). Read as settings read it.
        calls_pool = "threads" if calls_shared_loop(env) else "prefork"
        # Calls on one worker, post-processing (ASR, metrics) on another, on idle CPU only; the post
        # worker also runs beat (the reaper's and the retention schedule).
        self._spawn("worker", [*common, "--pool", calls_pool, "-Q", env.get("CEKURA_CALLS_QUEUE", "calls"), "-c", str(self.worker_concurrency),
                               "-n", f"calls-{os.getpid()}@%h"], {**env, "CEKURA_WORKER_PRELOAD": env.get("CEKURA_WORKER_PRELOAD", "tts,hearing")})
        self._spawn("worker-post", [*common, "--pool", "prefork", "-Q", env.get("CEKURA_POST_QUEUE", "post"), "-c", str(self.post_concurrency), "--beat", "-s", str(beat_file),
                                    "-n", f"post-{os.getpid()}@%h"], {**env, "CEKURA_WORKER_NICE": env.get("CEKURA_WORKER_NICE", "10"), "CEKURA_ASR_THREADS": env.get("CEKURA_ASR_THREADS", "1"),
                                     "CEKURA_WORKER_CPU_POLICY": env.get("CEKURA_WORKER_CPU_POLICY", "idle"), "CEKURA_WORKER_PRELOAD": "asr"})
        if self.web:
            port = int(env.get("CEKURA_WEB_PORT") or free_port())
            web = self._spawn("web", [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], env)
            wait_for_port(port, 60, web)
            self.web_url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self._supervise, name="embedded-supervisor", daemon=True).start()
        return self

    def _supervise(self) -> None:
        """Restart the worker or web process that exits on its own, as a process manager
        (docker's restart policy, systemd) does in a deployment. Celery's Redis transport can
        give up on a broker restart while holding a message; the work it held is not lost (the
        reaper and the claim see to that), but the process must come back."""
        while not self._stopping.wait(1.0):
            for name in list(self._specs):
                proc = self.named[name]
                if proc.poll() is None or name in self._unsupervised or self._stopping.is_set():
                    continue
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.log(f"embedded: {name} exited with code {proc.returncode}; restarting it (restart {self.restarts[name]})")
                args, env = self._specs[name]
                self._spawn(name, args, env, mode="a")

    def _drain(self, proc: subprocess.Popen[str], name: str) -> None:
        """Keep reading the child's output (so it never blocks on a full pipe); this
        thread owns the pipe and closes it at EOF."""
        assert proc.stdout is not None
        with proc.stdout:
            if self.log_dir is None:
                for _ in proc.stdout:
                    pass
                return
            with open(self.log_dir / f"{name}.log", "w") as sink:
                for line in proc.stdout:
                    sink.write(line)
                    sink.flush()

    def alive(self) -> bool:
        """The demo stack and the current worker and web processes all run."""
        current = [self.procs[0], *self.named.values()] if self.procs else []
        return all(p.poll() is None for p in current)

    def stop(self) -> None:
        self._stopping.set()
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
        for f in self.files:
            f.close()
        self.files.clear()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Starts the embedded stack as child processes: the demo stack (local channel, demo
session endpoint, demo agent), a Celery worker and the web server. Used by
`manage.py serve_embedded`, `manage.py demo` and the end-to-end tests."""

from __future__ import annotations

import logging
import logging.handlers
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
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"demo-stack ready channel=(\S+) endpoint=(\S+)")


def calls_shared_loop(env: dict[str, str]) -> bool:
    """CEKURA_CALLS_SHARED_LOOP as settings/base.py reads it (django-environ's booleans;
    on when unset)."""
    import environ

    value = env.get("CEKURA_CALLS_SHARED_LOOP")
    return (
        True
        if value is None or value == ""
        else value.strip().lower() in environ.Env.BOOLEAN_TRUE_STRINGS
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with code {proc.returncode} before listening on {port}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:g} s")


# A child that dies is started again after a pause that grows with each crash in a row; a
# child up for STABLE_SECONDS has recovered. After GIVE_UP_AFTER crashes in a row the stack
# gives up loudly: something is wrong that a restart does not mend.
RESTART_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_SECONDS = 60.0
GIVE_UP_AFTER = 5
# Each child's log (var/logs/NAME.log) is appended to, never overwritten, and rotated:
# NAME.log.1 … NAME.log.3 keep what came before.
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 3


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[str]
    started: float
    crashes: int = 0  # in a row, each within STABLE_SECONDS of its start
    restart_at: float | None = None  # waiting out its backoff


@dataclass
class EmbeddedStack:
    env: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 2
    post_concurrency: int = 1
    web: bool = True
    log: Callable[[str], None] = print
    log_dir: Path | None = None
    children: dict[str, Child] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    gave_up: str | None = None  # the child that kept crashing
    backoff: tuple[float, ...] = RESTART_BACKOFF_SECONDS
    stable_seconds: float = STABLE_SECONDS
    give_up_after: int = GIVE_UP_AFTER
    _logs: dict[str, logging.Logger] = field(default_factory=dict)
    _drains: list[threading.Thread] = field(default_factory=list)
    _unsupervised: set[str] = field(default_factory=set)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    channel_address: str = ""
    endpoint_url: str = ""
    web_url: str = ""

    @property
    def named(self) -> dict[str, subprocess.Popen[str]]:
        """Each child's current process."""
        return {name: child.proc for name, child in self.children.items()}

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _log_for(self, name: str) -> logging.Logger | None:
        if self.log_dir is None:
            return None
        if name not in self._logs:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                self.log_dir / f"{name}.log",
                maxBytes=LOG_MAX_BYTES,
                backupCount=LOG_BACKUPS,
                encoding="utf-8",
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger = logging.getLogger(f"cekura.embedded.child.{name}.{id(self)}")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            logger.addHandler(handler)
            self._logs[name] = logger
        return self._logs[name]

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str], *, drain: bool = True
    ) -> subprocess.Popen[str]:
        sink = self._log_for(name)
        if sink is not None:
            sink.info(
                "--- embedded: %s starting at %s ---", name, time.strftime("%Y-%m-%d %H:%M:%S %z")
            )
        # Each child leads its own process group, so it can be killed with everything it forked.
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        previous = self.children.get(name)
        self.children[name] = Child(
            name, args, env, proc, time.monotonic(), crashes=previous.crashes if previous else 0
        )
        if drain:
            self._drain_in_background(proc, name)
        return proc

    def _drain_in_background(self, proc: subprocess.Popen[str], name: str) -> None:
        thread = threading.Thread(
            target=self._drain, args=(proc, name), name=f"embedded-log-{name}", daemon=True
        )
        thread.start()
        self._drains.append(thread)

    def _drain(self, proc: subprocess.Popen[str], name: str) -> None:
        """Keep reading the child's output (so it never blocks on a full pipe) into its log;
        this thread owns the pipe and closes it at EOF."""
        assert proc.stdout is not None
        sink = self._log_for(name)
        with proc.stdout:
            for line in proc.stdout:
                if sink is not None:
                    sink.info(line.rstrip("\n"))

    def _signal(self, proc: subprocess.Popen[str], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, name: str) -> None:
        """SIGKILL a child and every process it forked; it stays dead (not restarted)."""
        self._unsupervised.add(name)
        proc = self.children[name].proc
        self._signal(proc, signal.SIGKILL)
        proc.wait(10)

    def crash(self, name: str) -> None:
        """SIGKILL a child and every process it forked, as a crash would: the supervisor
        starts it again."""
        proc = self.children[name].proc
        self._signal(proc, signal.SIGKILL)
        proc.wait(10)

    def start(self) -> EmbeddedStack:
        env = self._env()
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        # Demo stack first: its ready line tells where the channel and endpoint listen (and so
        # which ports it keeps when it is started again).
        demo_args = [
            sys.executable,
            "-m",
            "agora_runner",
            "demo-stack",
            "--channel-port",
            "0",
            "--endpoint-port",
            "0",
        ]
        demo = self._spawn("demo-stack", demo_args, env, drain=False)
        sink = self._log_for("demo-stack")
        deadline = time.monotonic() + 120
        assert demo.stdout is not None
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                raise RuntimeError("demo stack exited while starting:\n" + "".join(lines[-20:]))
            lines.append(line)
            if sink is not None:
                sink.info(line.rstrip("\n"))
            m = READY.search(line)
            if m:
                self.channel_address, self.endpoint_url = m.group(1), m.group(2)
                break
        else:
            raise RuntimeError("demo stack did not become ready within 120 s")
        self._drain_in_background(demo, "demo-stack")
        channel_port = self.channel_address.rsplit(":", 1)[1]
        endpoint_port = str(urlsplit(self.endpoint_url).port)
        self.children["demo-stack"].args = [
            *demo_args[:-4],
            "--channel-port",
            channel_port,
            "--endpoint-port",
            endpoint_port,
        ]
        env["CEKURA_LOCAL_CHANNEL"] = self.channel_address
        self.env["CEKURA_LOCAL_CHANNEL"] = self.channel_address
        beat_file = (self.log_dir or Path(tempfile.gettempdir())) / f"celerybeat-{os.getpid()}"
        common = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cekura",
            "worker",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        # All calls on one shared event loop in one process (threads pool; the default), or one
        # process per call (prefork, CEKURA_CALLS_SHARED_LOOP=0). Read as settings read it.
        calls_pool = "threads" if calls_shared_loop(env) else "prefork"
        # Calls on one worker, post-processing (ASR, metrics) on another, on idle CPU only, and the
        # maintenance worker: beat, the reaper and the retention, on a queue of their own.
        self._spawn(
            "worker",
            [
                *common,
                "--pool",
                calls_pool,
                "-Q",
                env.get("CEKURA_CALLS_QUEUE", "calls"),
                "-c",
                str(self.worker_concurrency),
                "-n",
                f"calls-{os.getpid()}@%h",
            ],
            {**env, "CEKURA_WORKER_PRELOAD": env.get("CEKURA_WORKER_PRELOAD", "tts,hearing")},
        )
        self._spawn(
            "worker-post",
            [
                *common,
                "--pool",
                "prefork",
                "-Q",
                env.get("CEKURA_POST_QUEUE", "post"),
                "-c",
                str(self.post_concurrency),
                "-n",
                f"post-{os.getpid()}@%h",
            ],
            {
                **env,
                "CEKURA_WORKER_NICE": env.get("CEKURA_WORKER_NICE", "10"),
                "CEKURA_ASR_THREADS": env.get("CEKURA_ASR_THREADS", "1"),
                "CEKURA_WORKER_CPU_POLICY": env.get("CEKURA_WORKER_CPU_POLICY", "idle"),
                "CEKURA_WORKER_PRELOAD": "asr",
            },
        )
        self._spawn(
            "maintenance",
            [
                *common,
                "--pool",
                "threads",
                "-c",
                "4",
                "-Q",
                env.get("CEKURA_MAINTENANCE_QUEUE", "maintenance"),
                "--beat",
                "-s",
                str(beat_file),
                "-n",
                f"maintenance-{os.getpid()}@%h",
            ],
            env,
        )
        if self.web:
            port = int(env.get("CEKURA_WEB_PORT") or free_port())
            web = self._spawn(
                "web",
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                env,
            )
            wait_for_port(port, 60, web)
            self.web_url = f"http://127.0.0.1:{port}"
        self.supervise()
        return self

    def supervise(self) -> None:
        """Start the supervisor (start() does)."""
        threading.Thread(target=self._supervise, name="embedded-supervisor", daemon=True).start()

    def _supervise(self) -> None:
        """Start again every child that exits on its own, as a process manager (docker's
        restart policy, systemd) does in a deployment: after a pause that grows with each crash
        in a row, giving up after GIVE_UP_AFTER. The work a dead worker held is not lost: the
        claim and the reaper see to that."""
        while not self._stopping.wait(0.5):
            with self._lock:
                for child in list(self.children.values()):
                    self._tend(child)

    def _tend(self, child: Child) -> None:
        if self._stopping.is_set() or self.gave_up is not None or child.name in self._unsupervised:
            return
        now = time.monotonic()
        if child.restart_at is None:
            if child.proc.poll() is None:
                if child.crashes and now - child.started > self.stable_seconds:
                    child.crashes = 0  # it has stayed up: recovered
                return
            child.crashes = child.crashes + 1 if now - child.started < self.stable_seconds else 1
            if child.crashes > self.give_up_after:
                self.gave_up = child.name
                self.log(
                    f"embedded: {child.name} crashed {child.crashes} times in a row (last exit "
                    "code "
                    f"{child.proc.returncode}); giving up. See {self._log_path(child.name)}"
                )
                return
            pause = self.backoff[min(child.crashes, len(self.backoff)) - 1]
            child.restart_at = now + pause
            self.log(
                f"embedded: {child.name} exited with code {child.proc.returncode}; starting it "
                f"again in {pause:g} s "
                f"(crash {child.crashes} in a row)"
            )
            return
        if now >= child.restart_at:
            self.restarts[child.name] = self.restarts.get(child.name, 0) + 1
            self._spawn(child.name, child.args, child.env)

    def _log_path(self, name: str) -> str:
        return (
            str(self.log_dir / f"{name}.log") if self.log_dir is not None else "(no log directory)"
        )

    def alive(self) -> bool:
        """The stack is up: not stopped, and no child has crashed past giving up (a child
        being started again counts as up)."""
        return not self._stopping.is_set() and self.gave_up is None

    def running(self, name: str) -> bool:
        """The child's current process runs."""
        child = self.children.get(name)
        return child is not None and child.restart_at is None and child.proc.poll() is None

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            procs = [child.proc for child in reversed(list(self.children.values()))]
        for p in procs:
            if p.poll() is None:
                self._signal(p, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._signal(p, signal.SIGKILL)
                p.wait()
        for thread in self._drains:
            thread.join(5)
        for logger in self._logs.values():
            for handler in list(logger.handlers):
                handler.close()
                logger.removeHandler(handler)

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

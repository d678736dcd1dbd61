"""Linux scheduling classes for the work around live calls.

A live call paces a frame every 10 ms; everything else on the machine (hearing the agent,
post-call transcription) should take only the CPU time the calls leave. Nice levels are not
enough for that: a niced process still gets its slices while a call waits for its turn.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)


CPU_POLICIES = {"normal": "SCHED_OTHER", "batch": "SCHED_BATCH", "idle": "SCHED_IDLE"}


def set_cpu_policy(policy: str) -> None:
    """This thread's (and the threads it starts later) Linux scheduling class. "idle" runs only
    on CPU time nothing else wants, and any other task that wakes takes the CPU from it at once:
    stronger than any nice level, which still gets slices while live calls wait for theirs."""
    name = CPU_POLICIES.get(policy)
    if name is None:
        raise ValueError(f"the CPU policy must be one of {', '.join(CPU_POLICIES)}, not {policy!r}")
    if policy == "normal" or not hasattr(os, name):
        return
    try:
        os.sched_setscheduler(0, getattr(os, name), os.sched_param(0))
    except OSError as exc:  # refused (a seccomp profile): run as a normal process
        log.warning("could not set CPU policy %s (%s)", policy, exc)


# A thread that paces frames and may not run real-time runs this much nicer than normal tasks
# instead, where it may.
PACING_NICE = -10


def pace_first(priority: int) -> str:
    """Put the calling thread (it alone) first on a CPU whenever it wakes, before every normal
    task on the machine: Linux's SCHED_FIFO at `priority` (1-99), as audio servers run their
    audio threads. A thread that sleeps between frames and wakes every 10 ms otherwise waits
    its turn behind whatever else runs, which on a busy machine is several milliseconds late.
    Threads and processes it starts later run as normal tasks (SCHED_RESET_ON_FORK). The
    kernel keeps 5 % of every second for other tasks whatever a real-time thread does.

    Needs CAP_SYS_NICE (docker: `cap_add: [SYS_NICE]`) or an RLIMIT_RTPRIO that allows it;
    without, the thread's nice is lowered to PACING_NICE where allowed, else it is left as it
    is. Returns what it got: "realtime N", "nice -10" or "normal". `priority` 0 leaves it."""
    if priority <= 0 or not hasattr(os, "SCHED_FIFO"):
        return "normal"
    import resource

    allowed = [priority]
    limit = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
    if 0 < limit < priority:  # unprivileged, but the administrator allows some
        allowed.append(int(limit))
    for level in allowed:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(level))
            return f"realtime {level}"
        except OSError:
            continue
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PACING_NICE)
        return f"nice {PACING_NICE}"
    except OSError:
        return "normal"


def scheduling() -> str:
    """How the calling thread is scheduled, in pace_first's words."""
    if not hasattr(os, "SCHED_FIFO"):
        return "normal"
    policy = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
    if policy in (os.SCHED_FIFO, os.SCHED_RR):
        return f"realtime {os.sched_getparam(0).sched_priority}"
    nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    return f"nice {nice}" if nice else "normal"


@contextlib.contextmanager
def pacing_first(priority: int) -> Iterator[str]:
    """pace_first for the length of a block, then the thread as it was (a pool's thread goes
    on to other work)."""
    tid = threading.get_native_id()
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    nice = os.getpriority(os.PRIO_PROCESS, tid)
    got = pace_first(priority)
    try:
        yield got
    finally:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, param)
            os.setpriority(os.PRIO_PROCESS, tid, nice)


@functools.cache
def machine_id() -> str:
    """Which machine this is: the kernel's boot id, the same in every container on one host
    (and new after a reboot); the host name where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return socket.gethostname()

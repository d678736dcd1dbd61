"""Linux scheduling classes for the work around live calls.

A live call paces a frame every 10 ms; everything else on the machine (hearing the agent,
post-call transcription) should take only the CPU time the calls leave. Nice levels are not
enough for that: a niced process still gets its slices while a call waits for its turn.
"""

from __future__ import annotations

import functools
import logging
import os
import socket

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


@functools.cache
def machine_id() -> str:
    """Which machine this is: the kernel's boot id, the same in every container on one host
    (and new after a reboot); the host name where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return socket.gethostname()

"""Secrets the embedded default makes for itself: random on first start, then kept in a file of
their own under var/ (mode 0600). Several processes starting at once agree on one value: each
writes a file of its own and links it into place, and the first link wins."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        mine = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (make() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(mine, path)  # fails if another process got there first: its value stands
        except FileExistsError:
            pass
        finally:
            mine.unlink()
        value = path.read_text().strip()
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)  # readable by its owner only
    return value

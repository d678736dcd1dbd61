"""End to end as users start it: `make demo` on the embedded default. The production stack
(Postgres, Redis, web, both workers, through restarts of both servers) is
tests/e2e/test_restarts.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]


def test_make_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    """`manage.py demo` with SQLite and the filesystem broker, as `make demo` runs it."""
    import subprocess

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "DJANGO_SETTINGS"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "settings.local",
            "CEKURA_VAR_DIR": str(tmp_path),
            "HF_HUB_OFFLINE": "1",
        }
    )
    proc = subprocess.run(
        [sys.executable, "manage.py", "demo", "--timeout", "300"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3/3 done" in proc.stdout and "success rate 100%" in proc.stdout
    assert len(list((tmp_path / "media" / "recordings").rglob("*.wav"))) == 3

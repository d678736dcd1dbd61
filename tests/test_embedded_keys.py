"""The embedded default's secrets at rest: a random Django secret key and field-encryption key
made on first start, kept in var/keys/ with mode 0600, the same for every process; secrets
stored under the old public-derived key are re-encrypted at start."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from cekura.embedded import ROOT
from settings.kept import kept_secret


def _kept(path: str, out: Any) -> None:
    out.put(kept_secret(Path(path), lambda: Fernet.generate_key().decode()))


def test_a_kept_secret_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    first = kept_secret(path, lambda: "one")
    assert first == "one" and kept_secret(path, lambda: "two") == "one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    kept_secret(path, lambda: "three")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_kept, args=(str(tmp_path / "k"), out)) for _ in range(6)]
    for p in procs:
        p.start()
    values = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(30)
    assert len(values) == 1
    assert sorted(os.listdir(tmp_path)) == ["k"]  # no stray files left


def embedded_settings(var: Path, *names: str) -> list[str]:
    code = "import django; django.setup(); from django.conf import settings as s; " + "; ".join(
        f"print(s.{n})" for n in names
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL")
    }
    env.update({"DJANGO_SETTINGS_MODULE": "settings.local", "CEKURA_VAR_DIR": str(var)})
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def test_the_embedded_default_makes_its_keys_and_keeps_them(tmp_path: Path) -> None:
    first = embedded_settings(tmp_path, "SECRET_KEY", "FIELD_ENCRYPTION_KEYS[0]", "DEBUG")
    again = embedded_settings(tmp_path, "SECRET_KEY", "FIELD_ENCRYPTION_KEYS[0]")
    assert first[:2] == again
    secret_key, field_key, debug = first
    assert secret_key != "embedded-default-not-for-production" and len(secret_key) >= 50
    Fernet(field_key.encode())  # a valid key
    assert debug == "False"  # no debug page in the embedded default
    for name in ("django-secret-key", "field-encryption-key"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    other = tmp_path / "elsewhere"
    assert embedded_settings(other, "FIELD_ENCRYPTION_KEYS[0]") != [
        field_key
    ]  # each installation its own


def test_secrets_under_the_old_public_key_are_re_encrypted_at_start(db: Any, settings: Any) -> None:
    from django.db import connection

    from settings.base import derive_fernet_key
    from test_framework.management.embedded import prepare_database
    from test_framework.models import AIAgent
    from tests.factories import AgentFactory

    legacy, kept = (
        derive_fernet_key("embedded-default-not-for-production"),
        Fernet.generate_key().decode(),
    )
    settings.FIELD_ENCRYPTION_KEYS = [legacy]  # as the embedded default stored them before
    agent = AgentFactory(agora_api_key="old-secret")
    settings.FIELD_ENCRYPTION_KEYS = [kept, legacy]
    settings.LEGACY_FIELD_ENCRYPTION_KEY = legacy
    prepare_database()
    settings.FIELD_ENCRYPTION_KEYS = [kept]  # the public-derived key opens nothing any more
    assert AIAgent.objects.get(pk=agent.pk).agora_api_key == "old-secret"
    with connection.cursor() as cursor:
        cursor.execute("SELECT agora_api_key FROM test_framework_aiagent WHERE id = %s", [agent.pk])
        assert "old-secret" not in cursor.fetchone()[0]

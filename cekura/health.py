"""`/healthz`: the database and the broker answer (for load balancers and orchestrators)."""

from __future__ import annotations

import time

from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict[str, object]] = {}
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure is the answer
        checks["database"] = {"ok": False, "error": exc.__class__.__name__}
    checks["database"]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    try:
        from cekura.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = {"ok": True}
    except Exception as exc:
        checks["broker"] = {"ok": False, "error": exc.__class__.__name__}
    checks["broker"]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )

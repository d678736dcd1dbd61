"""Log lines carry the result and run they are about. `bound(run_id=…, result_id=…)` sets
them for everything logged inside it (threads started with `in_context` too); `ContextFilter`
puts them on every record, as `run_id`, `result_id` and a ready-made `ids` (" run=5 result=3",
or "" outside a run) for the plain format. With CEKURA_LOG_FORMAT=json each line is one JSON
object (python-json-logger) with those fields. Secrets are never logged: nothing here adds
anything but ids."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_run_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("run_id", default=None)
_result_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("result_id", default=None)


@contextmanager
def bound(*, run_id: int | None = None, result_id: int | None = None) -> Iterator[None]:
    tokens = [(_run_id, _run_id.set(run_id)), (_result_id, _result_id.set(result_id))]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def in_context(target: Callable[..., Any]) -> Callable[..., Any]:
    """`target` to run in a new thread with the caller's ids (threads do not inherit them)."""
    ctx = contextvars.copy_context()
    return lambda *a, **kw: ctx.run(target, *a, **kw)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        run_id, result_id = _run_id.get(), _result_id.get()
        record.run_id, record.result_id = run_id, result_id
        parts = [
            f"run={run_id}" if run_id is not None else "",
            f"result={result_id}" if result_id is not None else "",
        ]
        record.ids = "".join(f" {p}" for p in parts if p)
        record.thread_name = threading.current_thread().name
        return True


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s%(ids)s %(message)s"
JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s %(run_id)s %(result_id)s %(process)s %(thread_name)s"  # noqa: E501


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FORMAT,
            "rename_fields": {"levelname": "level", "asctime": "time", "name": "logger"},
        }
        if fmt == "json"
        else {"format": PLAIN_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"ids": {"()": "cekura.logcontext.ContextFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "main", "filters": ["ids"]}
        },
        "root": {"handlers": ["console"], "level": level},
        # django-axes says "BEGIN" at every start; its lockouts and failed sign-ins are warnings.
        "loggers": {
            "httpx": {"level": "WARNING"},
            "faster_whisper": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
        },
    }

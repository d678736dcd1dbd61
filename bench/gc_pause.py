"""How long a full garbage collection holds the GIL in a calls worker, before and after
gc.freeze() (what cekura.celery does once a worker process has preloaded).

    .venv/bin/python bench/gc_pause.py

Imports what a calls worker imports, loads the caller's voice, then times gc.collect() five
times (the fastest is printed) with everything tracked, and again after gc.freeze().
"""

from __future__ import annotations

import gc
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def fastest_collection_ms(times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        gc.collect()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def main() -> None:
    import django

    django.setup()
    import agora_runner.runner  # noqa: F401
    import evaluators.catalogue  # noqa: F401
    import test_framework.pipeline  # noqa: F401
    import test_framework.tasks  # noqa: F401
    from agora_runner.speech import get_tts

    get_tts()
    print(f"objects tracked by the collector: {len(gc.get_objects())}")
    print(f"full collection, nothing frozen: {fastest_collection_ms():.1f} ms")
    gc.freeze()
    print(f"objects frozen: {gc.get_freeze_count()}")
    print(f"full collection after gc.freeze(): {fastest_collection_ms():.1f} ms")


if __name__ == "__main__":
    main()

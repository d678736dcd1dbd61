from __future__ import annotations

import gc
import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from agora_runner.cpu import set_cpu_policy

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = Celery("cekura")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["test_framework"])


@worker_process_init.connect
def _prepare_worker_process(**_: object) -> None:
    """Post-processing workers run niced (CEKURA_WORKER_NICE) or in the idle scheduling class
    (CEKURA_WORKER_CPU_POLICY=idle), so on a shared machine a live call's audio pacing wins the
    CPU over transcription. Each process loads the speech models
    it will use once, as it starts (CEKURA_WORKER_PRELOAD: "tts,hearing" for call workers,
    "asr" for post-processing), not in the middle of its first call."""
    from django.conf import settings

    if settings.WORKER_NICE:
        os.nice(settings.WORKER_NICE)
    set_cpu_policy(settings.WORKER_CPU_POLICY)
    if "tts" in settings.WORKER_PRELOAD:  # the caller's voice (its helper), its model loaded
        from test_framework.pipeline import call_synthesis

        call_synthesis().synthesize("Hello.")  # the first synthesis of a process is the slow one
    if "hearing" in settings.WORKER_PRELOAD:  # the call's hearing helper, its model loaded
        import numpy as np

        from test_framework.pipeline import call_hearing

        hearing = call_hearing()
        silence = np.zeros(16000, dtype=np.int16)
        if hasattr(hearing, "warm"):
            hearing.warm(silence)  # every helper of the pool
        else:
            hearing.transcribe(silence)
    if "asr" in settings.WORKER_PRELOAD:
        from test_framework.pipeline import post_asr

        post_asr()
    # What the process has made by now (Django, the models' wrappers) lives as long as it
    # does: out of the collector's sight, so a full collection, which holds the GIL from the
    # thread that triggers it while a call's pacing thread waits, walks only what calls made.
    gc.freeze()


@worker_ready.connect
def _prepare_threads_worker(**_: object) -> None:
    """A calls worker on the threads pool (CEKURA_CALLS_SHARED_LOOP) has no child processes to
    prepare: its one process loads the models once it is up."""
    from django.conf import settings

    if settings.CALLS_SHARED_LOOP:
        _prepare_worker_process()

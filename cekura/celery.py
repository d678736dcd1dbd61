from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

app = Celery("cekura")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["test_framework"])

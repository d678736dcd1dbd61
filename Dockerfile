FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DJANGO_SETTINGS_MODULE=settings.production
WORKDIR /app
# libopus: the local channel's Opus option (agora_runner.channel.codec).
RUN apt-get update && apt-get install -y --no-install-recommends libopus0 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY settings settings
COPY cekura cekura
COPY test_framework test_framework
COPY agora_runner agora_runner
COPY evaluators evaluators
COPY common common
COPY manage.py ./
RUN pip install --no-cache-dir . && DJANGO_SECRET_KEY=build FIELD_ENCRYPTION_KEYS=unused DATABASE_URL=postgres://x@x/x CELERY_BROKER_URL=redis://x \
    python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "cekura.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]

"""How a run ended moves out of `metadata` into columns of its own (test_framework.lifecycle).
Existing rows keep their facts: each key is moved to its column and taken out of metadata;
going back puts them into metadata again."""

from typing import Any

from django.db import migrations, models

# metadata key → column, and the value a column has when the key is absent
MOVED = {
    "ended_reason": "",
    "infrastructure": False,
    "credit_refunded": False,
    "post_attempts": 0,
    "cancelled_while": "",
    "reaped": False,
    "post_processing_failed": False,
}


def to_columns(apps: Any, schema_editor: Any) -> None:
    Run = apps.get_model("test_framework", "Run")
    for run in Run.objects.exclude(metadata={}).iterator(chunk_size=500):
        meta = dict(run.metadata or {})
        if not any(key in meta for key in MOVED):
            continue
        for key, empty in MOVED.items():
            value = meta.pop(key, empty)
            if key == "ended_reason":
                value = str(value or "")[:64]
            elif key == "post_attempts":
                value = int(value or 0)
            elif key == "cancelled_while":
                value = str(value or "")[:16]
            else:
                value = bool(value)
            setattr(run, key, value)
        run.metadata = meta
        run.save(update_fields=["metadata", *MOVED])


def to_metadata(apps: Any, schema_editor: Any) -> None:
    Run = apps.get_model("test_framework", "Run")
    for run in Run.objects.iterator(chunk_size=500):
        meta = dict(run.metadata or {})
        for key, empty in MOVED.items():
            value = getattr(run, key)
            if value != empty or key in ("ended_reason", "infrastructure"):
                meta[key] = value
        run.metadata = meta
        run.save(update_fields=["metadata"])


class Migration(migrations.Migration):
    dependencies = [
        ("test_framework", "0007_run_call_started_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="ended_reason",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="run", name="infrastructure", field=models.BooleanField(default=False)
        ),
        migrations.AddField(
            model_name="run", name="credit_refunded", field=models.BooleanField(default=False)
        ),
        migrations.AddField(
            model_name="run",
            name="post_attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="run",
            name="cancelled_while",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="run", name="reaped", field=models.BooleanField(default=False)
        ),
        migrations.AddField(
            model_name="run",
            name="post_processing_failed",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(to_columns, to_metadata),
    ]

"""Scripted steps written with the old editor's hint ("when the agent asks … => say …") kept
the word "say" in the line the caller speaks word for word, so the caller said "Say Tuesday,
please.". The editor now takes the condition and the line as two fields; this moves the old
steps over: a fixed line that starts with the hint's lower-case "say " loses it (and the quotes
around what follows), and starts with a capital. Lines that begin otherwise are left alone."""

from __future__ import annotations

import re
from typing import Any

from django.db import migrations

HINT = re.compile(r"^say:?\s+(.+)$", re.DOTALL)
QUOTES = "\"'“”‘’"


def spoken(action: str) -> str:
    match = HINT.match(action.strip())
    if not match:
        return action
    line = match.group(1).strip()
    if len(line) > 1 and line[0] in QUOTES and line[-1] in QUOTES:
        line = line[1:-1].strip()
    return line[:1].upper() + line[1:] if line else action


def forwards(apps: Any, schema_editor: Any) -> None:
    Scenario = apps.get_model("test_framework", "Scenario")
    for scenario in Scenario.objects.exclude(conditional_actions=None).iterator():
        data = scenario.conditional_actions
        if not isinstance(data, dict) or not isinstance(data.get("conditions"), list):
            continue
        changed = False
        for step in data["conditions"]:
            if (
                isinstance(step, dict)
                and step.get("fixed_message", True)
                and isinstance(step.get("action"), str)
            ):
                new = spoken(step["action"])
                if new != step["action"]:
                    step["action"], changed = new, True
        if changed:
            scenario.conditional_actions = data
            scenario.save(update_fields=["conditional_actions"])


class Migration(migrations.Migration):
    dependencies = [("test_framework", "0010_schedules")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

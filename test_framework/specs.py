"""Tests as Code: a spec file (format version "1", the hosted product's
`schemas/test-suite/v1.json`) read into exactly what a launch would create.

`spec_plan` checks the whole spec at once and raises InvalidFields keyed by where each
problem is in the file (`scenarios[3].metrics[0]`); it creates nothing and checks no balance.
A launch (`services.result_launch_spec`) turns each planned case into runs that keep a
snapshot of the case (`PlannedCase.snapshot`): nothing in a spec becomes a stored scenario,
personality or test profile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Field

from cekura.accounts.models import Organization
from cekura.errors import InvalidFields
from cekura.parsers import loads as bounded_json

from . import limits
from .choices import ScenarioType
from .models import AIAgent, Metric, Personality, Scenario

SPEC_VERSION = "1"
MAX_CASES = 200
MAX_SPEC_BYTES = 1_000_000
MAX_METRICS = 64
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_KEY_LENGTH = 128
MAX_NAME_LENGTH = 80  # a scenario's name
LANGUAGES = ("en",)  # the caller speaks, and calls are transcribed, in English
TOOLS = (
    "end_call",
)  # the caller may always hang up; the hosted product's others need a phone line
HOSTED_TOOLS = ("call_hold", "dtmf", "end_call_only_on_transfer", "receive_dtmf", "send_sms")
HOSTED_TYPES = ("real_world_fixed", "real_world_smart")
SLUG = re.compile(r"^[a-z0-9_]+$")
PLACEHOLDER = re.compile(r"\{\{\s*test_profile\.([A-Za-z0-9_]+)\s*\}\}")

ENVELOPE_KEYS = ("$schema", "version", "suite", "defaults", "scenarios")
SUITE_KEYS = ("name", "description")
DEFAULT_KEYS = (
    "frequency",
    "concurrency_limit",
    "language",
    "max_duration",
    "metrics",
    "personality",
    "test_profile",
    "tags",
)
CASE_KEYS = (
    "key",
    "name",
    "type",
    "instructions",
    "conditional_actions",
    "expected_outcome",
    "first_message",
    "metrics",
    "personality",
    "test_profile",
    "tags",
    "tools",
    "language",
    "frequency",
    "max_duration",
)
TEST_PROFILE_KEYS = ("name", "agent_variables", "caller_variables")
# What an inline personality may set here: the fields of a stored personality, with the hosted
# product's names where it has one (voice_id; background_noise "off").
PERSONALITY_KEYS = (
    "base",
    "name",
    "prompt",
    "language",
    "gender",
    "speed",
    "interruption_level",
    "background_noise",
    "background_noise_snr_db",
    "backchannels",
    "voice_id",
)
PERSONALITY_FIELDS = (
    "name",
    "prompt",
    "language",
    "gender",
    "speed",
    "interruption_level",
    "background_noise",
    "background_noise_snr_db",
    "backchannels",
    "voice",
)
CONDITION_KEYS = ("id", "condition", "action", "type", "fixed_message")
CONDITIONAL_KEYS = ("role", "conditions")

MSG_TARGET = "A spec says what to test; the request names the target. Remove {field} from the spec and send agent_id in the request."  # noqa: E501
TARGET_FIELDS = (
    "agent_id",
    "agent",
    "channel",
    "credentials",
    "agora_data",
    "agora_api_key",
    "project_id",
    "phone_number",
)
MSG_HOSTED_VOICE = "Not available on this server: the caller speaks with its own voices (voice_id {voices}); remove {field}."  # noqa: E501
HOSTED_PERSONALITY_FIELDS = {
    "voice_model": MSG_HOSTED_VOICE,
    "provider": MSG_HOSTED_VOICE,
    "accent": MSG_HOSTED_VOICE,
    "end_call_enabled": "Not available on this server: the caller always may end the call; remove end_call_enabled.",  # noqa: E501
}


class _Problems:
    """Every problem found, under the path of the field it concerns, in the order found."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        messages = self.errors.setdefault(path, [])
        if message not in messages:
            messages.append(message)


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _in_file_order(path: str) -> list[Any]:
    """Sort key: the envelope's fields in the file's order, then each case by its index."""
    parts: list[Any] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(
            (1, int(index), "")
            if index
            else (0, ENVELOPE_KEYS.index(name) if not parts and name in ENVELOPE_KEYS else 0, name)
        )
    return parts


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _keys_known(
    obj: dict[str, Any],
    path: str,
    allowed: Iterable[str],
    problems: _Problems,
    special: dict[str, str] | None = None,
) -> None:
    allowed = set(allowed)
    for key in obj:
        if key in allowed:
            continue
        if key in TARGET_FIELDS:
            message = MSG_TARGET.format(field=key)
        elif special and key in special:
            message = special[key]
        else:
            message = 'Unknown field: a version "1" spec does not have it.'
        problems.add(_at(path, key), message)


def _object(value: Any, path: str, problems: _Problems) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.add(path, f"Expected a JSON object, not {_type_name(value)}.")
        return None
    return value


def _integer(
    value: Any, path: str, problems: _Problems, low: int, high: int | None = None
) -> int | None:
    if not _is_int(value):
        problems.add(path, "A valid integer is required.")
        return None
    if value < low:
        problems.add(path, f"Ensure this value is greater than or equal to {low}.")
        return None
    if high is not None and value > high:
        problems.add(path, f"Ensure this value is less than or equal to {high}.")
        return None
    return int(value)


def _number(value: Any, path: str, problems: _Problems, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(path, "A valid number is required.")
        return None
    if not low <= value <= high:
        problems.add(path, f"Ensure this value is between {low:g} and {high:g}.")
        return None
    return float(value)


def _string(
    value: Any, path: str, problems: _Problems, max_length: int | None = None, blank: bool = True
) -> str | None:
    if not isinstance(value, str):
        problems.add(path, "Not a valid string.")
        return None
    if not blank and not value.strip():
        problems.add(path, "This field may not be blank.")
        return None
    if max_length is not None and len(value) > max_length:
        problems.add(path, f"Ensure this field has no more than {max_length} characters.")
        return None
    return value


def _boolean(value: Any, path: str, problems: _Problems) -> bool | None:
    if not isinstance(value, bool):
        problems.add(path, "Must be true or false.")
        return None
    return value


def _list(value: Any, path: str, problems: _Problems, max_items: int) -> list[Any] | None:
    if not isinstance(value, list):
        problems.add(path, f"Expected a list, not {_type_name(value)}.")
        return None
    if len(value) > max_items:
        problems.add(path, f"Ensure this field has no more than {max_items} elements.")
        return None
    return value


def _bounds(model: type[Any], name: str) -> tuple[float, float]:
    """A model field's MinValueValidator / MaxValueValidator limits (one source for both)."""
    validators = model._meta.get_field(name).validators
    low = next(v.limit_value for v in validators if isinstance(v, MinValueValidator))
    high = next(v.limit_value for v in validators if isinstance(v, MaxValueValidator))
    return float(low), float(high)


def slug_of(text: str, max_length: int = 90) -> str:
    """Lowercase letters, digits and underscores: how a name becomes a key or a metric slug."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:max_length]


# ---------------------------------------------------------------------------------------------
# Shapes: each reader checks one part of the file and returns what it could read.


def _language(value: Any, path: str, problems: _Problems) -> str | None:
    text = _string(value, path, problems)
    if text is None:
        return None
    if text not in LANGUAGES:
        problems.add(
            path,
            f'"{text[:20]}" is not available: the caller speaks, and calls are transcribed, in '
            'English ("en") only.',
        )
        return None
    return text


def _metric_refs(value: Any, path: str, problems: _Problems) -> list[tuple[str, int | str]]:
    items = _list(value, path, problems, MAX_METRICS)
    refs: list[tuple[str, int | str]] = []
    for i, ref in enumerate(items or []):
        where = _at(path, i)
        if _is_int(ref) and ref >= 1:
            refs.append((where, int(ref)))
        elif isinstance(ref, str) and SLUG.match(ref):
            refs.append((where, ref))
        else:
            problems.add(
                where,
                "A metric is named by its numeric id or by its slug (lowercase letters, digits and "
                "_).",
            )
    return refs


def _tags(value: Any, path: str, problems: _Problems) -> list[str] | None:
    items = _list(value, path, problems, MAX_TAGS)
    if items is None:
        return None
    good = [
        t
        for i, t in enumerate(items)
        if _string(t, _at(path, i), problems, MAX_TAG_LENGTH) is not None
    ]
    return good if len(good) == len(items) else None


def _tools(value: Any, path: str, problems: _Problems) -> list[str] | None:
    items = _list(value, path, problems, 16)
    if items is None:
        return None
    good = []
    for i, tool in enumerate(items):
        where = _at(path, i)
        if tool in TOOLS:
            good.append(tool)
        elif tool in HOSTED_TOOLS:
            problems.add(
                where,
                f'"{tool}" is not available for calls in an Agora channel (available: '
                f"{', '.join(TOOLS)}).",
            )
        else:
            problems.add(where, f'"{str(tool)[:40]}" is not a valid choice.')
    return good if len(good) == len(items) else None


def _test_profile(value: Any, path: str, problems: _Problems) -> dict[str, Any] | None:
    if _is_int(value):
        problems.add(
            path,
            "Test profiles are not stored on this server: give the test data inline, as "
            '{"agent_variables": {...}, "caller_variables": {...}}.',
        )
        return None
    profile = _object(value, path, problems)
    if profile is None:
        return None
    _keys_known(profile, path, TEST_PROFILE_KEYS, problems)
    if not profile:
        problems.add(path, "Give agent_variables or caller_variables, or leave test_profile out.")
        return None
    ok = True
    if "name" in profile:
        ok = _string(profile["name"], _at(path, "name"), problems, 255) is not None and ok
    for section in ("agent_variables", "caller_variables"):
        if section in profile:
            variables = _object(profile[section], _at(path, section), problems)
            ok = variables is not None and ok
            for key in variables or {}:
                if not re.fullmatch(r"[A-Za-z0-9_]+", key):
                    problems.add(
                        _at(_at(path, section), key),
                        "A variable's name is letters, digits and _ only.",
                    )
                    ok = False
    return profile if ok and set(profile) <= set(TEST_PROFILE_KEYS) else None


def _conditional_actions(value: Any, path: str, problems: _Problems) -> dict[str, Any] | None:
    data = _object(value, path, problems)
    if data is None:
        return None
    _keys_known(data, path, CONDITIONAL_KEYS, problems)
    ok = set(data) <= set(CONDITIONAL_KEYS)
    role = data.get("role", "")
    if _string(role, _at(path, "role"), problems, limits.ROLE) is None:
        ok = False
    conditions = _list(
        data.get("conditions", []), _at(path, "conditions"), problems, limits.CONDITIONS
    )
    clean: list[dict[str, Any]] = []
    for i, raw in enumerate(conditions or []):
        where = _at(_at(path, "conditions"), i)
        cond = _object(raw, where, problems)
        if cond is None:
            ok = False
            continue
        _keys_known(cond, where, CONDITION_KEYS, problems)
        item = {
            "id": _integer(cond.get("id", i + 1), _at(where, "id"), problems, 0),
            "condition": _string(
                cond.get("condition", ""), _at(where, "condition"), problems, limits.CONDITION
            ),
            "action": _string(
                cond.get("action"), _at(where, "action"), problems, limits.LINE, blank=False
            )
            if "action" in cond
            else None,
            "type": _string(cond.get("type", "standard"), _at(where, "type"), problems, 32),
            "fixed_message": _boolean(
                cond.get("fixed_message", False), _at(where, "fixed_message"), problems
            ),
        }
        if "action" not in cond:
            problems.add(_at(where, "action"), "This field is required.")
        if any(v is None for v in item.values()) or not set(cond) <= set(CONDITION_KEYS):
            ok = False
        clean.append(item)
    if conditions is not None and not conditions:
        problems.add(
            _at(path, "conditions"), "A conditional_actions case needs at least one condition."
        )
        ok = False
    if not ok or conditions is None:
        return None
    return {"role": role, "conditions": clean}


def _personality(value: Any, path: str, problems: _Problems) -> int | dict[str, Any] | None:
    """An id, or an object (with `base`: overrides of that personality; without: a whole one)."""
    if _is_int(value):
        return _integer(value, path, problems, 1)
    data = _object(value, path, problems)
    if data is None:
        return None
    voices = _voices()
    special = {
        k: m.format(voices=", ".join(voices), field=k) for k, m in HOSTED_PERSONALITY_FIELDS.items()
    }
    _keys_known(data, path, PERSONALITY_KEYS, problems, special)
    ok = set(data) <= set(PERSONALITY_KEYS)
    fields: dict[str, Any] = {}
    speed_low, speed_high = _bounds(Personality, "speed")
    snr_low, snr_high = _bounds(Personality, "background_noise_snr_db")
    readers: dict[str, Any] = {
        "base": lambda v, p: _integer(v, p, problems, 1),
        "name": lambda v, p: _string(
            v, p, problems, Personality._meta.get_field("name").max_length, blank=False
        ),
        "prompt": lambda v, p: _string(v, p, problems, limits.TEXT, blank=False),
        "language": lambda v, p: _language(v, p, problems),
        "gender": lambda v, p: _string(
            v, p, problems, Personality._meta.get_field("gender").max_length
        ),
        "speed": lambda v, p: _number(v, p, problems, speed_low, speed_high),
        "interruption_level": lambda v, p: _choice(v, p, problems, Personality.Interruption.values),
        "background_noise": lambda v, p: _choice(
            "none" if v == "off" else v, p, problems, Personality.Noise.values, shown=v
        ),
        "background_noise_snr_db": lambda v, p: _number(v, p, problems, snr_low, snr_high),
        "backchannels": lambda v, p: _boolean(v, p, problems),
        "voice_id": lambda v, p: _choice(v, p, problems, voices),
    }
    for key, reader in readers.items():
        if key in data:
            read = reader(data[key], _at(path, key))
            if read is None:
                ok = False
            else:
                fields["voice" if key == "voice_id" else key] = read
    if "base" not in data and "prompt" not in data:
        problems.add(
            _at(path, "prompt"),
            "Required when no base personality is given: how the simulated caller behaves.",
        )
        ok = False
    return fields if ok else None


def _choice(
    value: Any, path: str, problems: _Problems, choices: Iterable[str], shown: Any = None
) -> str | None:
    choices = list(choices)
    if value not in choices:
        problems.add(
            path,
            f'"{str(value if shown is None else shown)[:40]}" is not a valid choice (one of '
            f"{', '.join(choices)}).",
        )
        return None
    return str(value)


def _voices() -> list[str]:
    from agora_runner.speech import PiperTTS

    return [PiperTTS.voice_name]


def _common_field(key: str, value: Any, path: str, problems: _Problems) -> Any:
    """A field that defaults and cases share; None when it is not valid."""
    where = _at(path, key)
    if key == "frequency":
        return _integer(value, where, problems, 1, limits.FREQUENCY)
    if key == "concurrency_limit":
        return _integer(value, where, problems, 1, limits.CONCURRENCY)
    if key == "language":
        return _language(value, where, problems)
    if key == "max_duration":
        low, high = _bounds(Scenario, "max_duration")
        return _integer(value, where, problems, int(low), int(high))
    if key == "metrics":
        return _metric_refs(value, where, problems)
    if key == "personality":
        return _personality(value, where, problems)
    if key == "test_profile":
        return _test_profile(value, where, problems)
    if key == "tags":
        return _tags(value, where, problems)
    raise KeyError(key)


def _read_defaults(value: Any, problems: _Problems) -> dict[str, Any]:
    data = _object(value, "defaults", problems)
    if data is None:
        return {}
    _keys_known(data, "defaults", DEFAULT_KEYS, problems)
    read: dict[str, Any] = {}
    for key in DEFAULT_KEYS:
        if key in data:
            value = _common_field(key, data[key], "defaults", problems)
            if value is not None:
                read[key] = value
    read["_unreadable"] = {k for k in data if k not in read}
    return read


def _read_case(raw: Any, path: str, problems: _Problems) -> dict[str, Any] | None:
    """The case's own fields that could be read (None: not an object at all)."""
    data = _object(raw, path, problems)
    if data is None:
        return None
    _keys_known(data, path, CASE_KEYS, problems)
    if "name" not in data:
        problems.add(_at(path, "name"), "This field is required.")
    read: dict[str, Any] = {}
    kind = _case_type(data.get("type", ScenarioType.INSTRUCTION), _at(path, "type"), problems)
    if kind is not None:
        read["type"] = kind
    for key, value in data.items():
        reader = _CASE_READERS.get(key)
        if reader is not None:
            field_value = reader(key, value, path, problems)
            if field_value is not None:
                read[key] = field_value
    _case_needs(read, data, path, problems)
    read["_unreadable"] = {k for k in data if k not in read}
    return read


def _case_type(kind: Any, at: str, problems: _Problems) -> str | None:
    if kind in ScenarioType.values:
        return str(kind)
    if kind in HOSTED_TYPES:
        problems.add(
            at,
            f'"{kind}" cases are not available on this server (instruction or '
            "conditional_actions).",
        )
    else:
        problems.add(
            at, f'"{str(kind)[:40]}" is not a valid choice (instruction or conditional_actions).'
        )
    return None


def _case_needs(read: dict[str, Any], data: dict[str, Any], path: str, problems: _Problems) -> None:
    """What the type needs, judged on the case's own fields (defaults carry neither)."""
    if (
        read.get("type") == ScenarioType.INSTRUCTION
        and _at(path, "instructions") not in problems.errors
        and not str(read.get("instructions") or "").strip()
    ):
        problems.add(
            _at(path, "instructions"),
            "Instructions are required for an instruction case: what the simulated caller does.",
        )
    if read.get("type") == ScenarioType.CONDITIONAL_ACTIONS and "conditional_actions" not in data:
        problems.add(
            _at(path, "conditional_actions"),
            "Required for a conditional_actions case: the caller's scripted lines.",
        )


def _stripped(limit: int) -> Callable[[str, Any, str, _Problems], str | None]:
    def read(key: str, value: Any, path: str, problems: _Problems) -> str | None:
        text = _string(value, _at(path, key), problems, limit, blank=False)
        return text.strip() if text is not None else None

    return read


def _text(limit: int, *, blank: bool = True) -> Callable[[str, Any, str, _Problems], str | None]:
    def read(key: str, value: Any, path: str, problems: _Problems) -> str | None:
        return _string(value, _at(path, key), problems, limit, blank=blank)

    return read


def _common(key: str, value: Any, path: str, problems: _Problems) -> Any:
    return _common_field(key, value, path, problems)


# How each of a case's own fields is read (None: unreadable, with the problem recorded).
_CASE_READERS: dict[str, Callable[[str, Any, str, _Problems], Any]] = {
    "name": _stripped(MAX_NAME_LENGTH),
    "key": _stripped(MAX_KEY_LENGTH),
    "instructions": _text(limits.TEXT),
    "expected_outcome": _text(limits.TEXT),
    "first_message": _text(limits.LINE, blank=False),
    "conditional_actions": lambda key, value, path, problems: _conditional_actions(
        value, _at(path, key), problems
    ),
    "tools": lambda key, value, path, problems: _tools(value, _at(path, key), problems),
    **{
        key: _common
        for key in (
            "metrics",
            "personality",
            "test_profile",
            "tags",
            "language",
            "frequency",
            "max_duration",
        )
    },
}


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True)
class PersonalityChoice:
    """How a case's caller personality was resolved: `existing` (by id), `override` (a base
    and changes), `inline` (defined in the spec) or `default` (none: the plain caller)."""

    mode: str
    id: int | None = None
    name: str | None = None
    fields: dict[str, Any] | None = None  # the personality as the call uses it

    def as_plan(self) -> dict[str, Any]:
        return {"mode": self.mode, "id": self.id, "name": self.name}


@dataclass
class PlannedCase:
    key: str
    name: str
    type: str
    frequency: int  # runs of this case: its own frequency × the request's
    metric_ids: list[int]
    tags: list[str]
    personality: PersonalityChoice
    test_profile_sections: list[str]
    snapshot: dict[str, Any]

    def as_plan(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "type": self.type,
            "frequency": self.frequency,
            "metric_ids": self.metric_ids,
            "tags": self.tags,
            "personality": self.personality.as_plan(),
            "test_profile": {
                "mode": "inline" if self.test_profile_sections else "none",
                "sections": self.test_profile_sections,
            },
        }


@dataclass
class Plan:
    agent: AIAgent
    channel: str
    suite_name: str
    cases: list[PlannedCase]
    concurrency_limit: int | None
    # Drops in pass rate the plan states the power for (evaluators.power's defaults if empty).
    drops: tuple[tuple[float, float], ...] = ()

    @property
    def total_runs(self) -> int:
        return sum(c.frequency for c in self.cases)

    @property
    def estimated_cost(self) -> int:
        return self.total_runs * settings.CREDITS_PER_RUN

    def as_dict(self) -> dict[str, Any]:
        from evaluators.power import plan_power  # scipy: loaded when a plan is answered

        return {
            "agent_id": self.agent.pk,
            "channel": self.channel,
            "suite_name": self.suite_name,
            "scenario_count": len(self.cases),
            "total_runs": self.total_runs,
            "estimated_cost": self.estimated_cost,
            "concurrency_limit": self.concurrency_limit,
            "scenarios": [c.as_plan() for c in self.cases],
            "power": plan_power([c.frequency for c in self.cases], drops=self.drops or None),
        }


def spec_from_text(text: str | bytes, *, field: str) -> dict[str, Any]:
    """A spec sent as text (an uploaded file, a form field): parsed, or an error on `field`."""
    if len(text) > MAX_SPEC_BYTES:
        raise InvalidFields({field: [f"The spec is larger than {MAX_SPEC_BYTES // 1_000_000} MB."]})
    try:
        spec = bounded_json(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidFields({field: [f"Not valid JSON: {exc}"[:300]]}) from None
    if not isinstance(spec, dict):
        raise InvalidFields({field: [f"The spec must be a JSON object, not {_type_name(spec)}."]})
    return spec


def spec_plan(
    *,
    organization: Organization,
    agent: AIAgent,
    spec: Any,
    channel: str = "voice",
    frequency: int = 1,
    concurrency_limit: int | None = None,
) -> Plan:
    """Read a spec against `agent`: every problem at once (InvalidFields), else the plan."""
    if not isinstance(spec, dict):
        raise InvalidFields({"spec": [f"The spec must be a JSON object, not {_type_name(spec)}."]})
    if len(json.dumps(spec)) > MAX_SPEC_BYTES:
        raise InvalidFields(
            {"spec": [f"The spec is larger than {MAX_SPEC_BYTES // 1_000_000} MB."]}
        )
    problems = _Problems()
    _keys_known(spec, "", ENVELOPE_KEYS, problems)
    if "version" not in spec:
        problems.add("version", 'This field is required: "1".')
    elif spec["version"] != SPEC_VERSION:
        problems.add(
            "version", 'Must be "1" (a string): the only spec format version this server reads.'
        )
    suite_name = _read_suite(spec["suite"], problems) if "suite" in spec else ""
    defaults = (
        _read_defaults(spec["defaults"], problems) if "defaults" in spec else {"_unreadable": set()}
    )
    planned = _resolve(
        organization=organization,
        agent=agent,
        defaults=defaults,
        cases=_read_cases(spec, problems),
        frequency=frequency,
        problems=problems,
        suite_name=suite_name,
    )
    if problems.errors:
        raise InvalidFields(
            {path: problems.errors[path] for path in sorted(problems.errors, key=_in_file_order)}
        )
    total = sum(case.frequency for case in planned)
    if total > limits.RUNS_PER_LAUNCH:
        raise InvalidFields({"frequency": [limits.too_many_runs(total)]})
    limit = (
        concurrency_limit if concurrency_limit is not None else defaults.get("concurrency_limit")
    )
    return Plan(
        agent=agent, channel=channel, suite_name=suite_name, cases=planned, concurrency_limit=limit
    )


def _read_suite(raw: Any, problems: _Problems) -> str:
    """The suite's name ("" if none or unreadable); its description is only checked."""
    suite = _object(raw, "suite", problems)
    if suite is None:
        return ""
    _keys_known(suite, "suite", SUITE_KEYS, problems)
    if "description" in suite:
        _string(suite["description"], "suite.description", problems, 5000)
    if "name" not in suite:
        return ""
    return (_string(suite["name"], "suite.name", problems, 255) or "").strip()


def _read_cases(spec: dict[str, Any], problems: _Problems) -> list[tuple[int, dict[str, Any]]]:
    """(index, the fields read) of each test case that is an object at all."""
    raw_cases = spec.get("scenarios")
    if "scenarios" not in spec:
        problems.add("scenarios", "This field is required: the test cases, 1 to 200.")
    elif not isinstance(raw_cases, list):
        problems.add("scenarios", f"Expected a list of test cases, not {_type_name(raw_cases)}.")
    elif not raw_cases:
        problems.add("scenarios", "Give at least 1 test case.")
    elif len(raw_cases) > MAX_CASES:
        problems.add(
            "scenarios",
            f"A spec holds at most {MAX_CASES} test cases; this one has {len(raw_cases)}.",
        )
    else:
        cases = []
        for i, raw in enumerate(raw_cases):
            read = _read_case(raw, f"scenarios[{i}]", problems)
            if read is not None:
                cases.append((i, read))
        return cases
    return []


def _resolve(
    *,
    organization: Organization,
    agent: AIAgent,
    defaults: dict[str, Any],
    cases: list[tuple[int, dict[str, Any]]],
    frequency: int,
    problems: _Problems,
    suite_name: str,
) -> list[PlannedCase]:
    """Defaults merged into each case, references looked up, placeholders filled, keys checked."""
    refs = list(defaults.get("metrics", [])) + [
        r for _, case in cases for r in case.get("metrics", [])
    ]
    metrics = _metrics_by_ref(organization=organization, agent=agent, refs=refs, problems=problems)
    personalities: dict[str, PersonalityChoice | None] = {}
    keys: dict[str, int] = {}
    planned = []
    for index, case in cases:
        path = f"scenarios[{index}]"
        merged = {
            **{k: v for k, v in defaults.items() if k not in ("metrics", "_unreadable")},
            **case,
        }
        unreadable = case["_unreadable"] | (
            set() if "test_profile" in case else defaults.get("_unreadable", set())
        )
        metric_ids = list(
            dict.fromkeys(
                metrics[where]
                for where, _ in defaults.get("metrics", []) + case.get("metrics", [])
                if where in metrics
            )
        )
        where = _at(path, "personality") if "personality" in case else "defaults.personality"
        if "personality" in merged and where not in personalities:
            personalities[where] = _resolve_personality(
                organization, merged["personality"], where, problems
            )
        personality = (
            personalities.get(where) if "personality" in merged else PersonalityChoice("default")
        )
        profile = merged.get("test_profile") or {}
        # A test_profile that could not be read is reported already: its placeholders are not.
        texts = _fill_placeholders(
            case,
            path,
            profile,
            "test_profile" in merged,
            problems,
            check="test_profile" not in unreadable,
        )
        name = case.get("name")
        if name is None:
            continue
        key = case.get("key") or slug_of(name, MAX_KEY_LENGTH) or name
        if key in keys:
            problems.add(
                _at(path, "key"),
                f'"{key}" is already the key of scenarios[{keys[key]}]: each case needs its own '
                "key (it defaults to the name).",
            )
        keys.setdefault(key, index)
        if personality is None or texts is None:
            continue
        sections = [s for s in ("agent_variables", "caller_variables") if s in profile]
        runs = int(merged.get("frequency", 1)) * frequency
        snapshot = {
            "key": key,
            "name": name,
            "type": case.get("type", ScenarioType.INSTRUCTION),
            "instructions": texts.get("instructions", ""),
            "conditional_actions": texts.get("conditional_actions"),
            "first_message": texts.get("first_message", "Hello"),
            "expected_outcome": texts.get("expected_outcome", ""),
            "metric_ids": metric_ids,
            "tags": list(merged.get("tags", [])),
            "tools": list(case.get("tools", [])),
            "language": merged.get("language", "en"),
            "max_duration": merged.get("max_duration"),
            "personality": {**personality.as_plan(), "fields": personality.fields},
            "agent_variables": profile.get("agent_variables"),
            "caller_variables": profile.get("caller_variables"),
            "suite": suite_name,
        }
        planned.append(
            PlannedCase(
                key=key,
                name=name,
                type=snapshot["type"],
                frequency=runs,
                metric_ids=metric_ids,
                tags=snapshot["tags"],
                personality=personality,
                test_profile_sections=sections,
                snapshot=snapshot,
            )
        )
    return planned


def _metrics_by_ref(
    *,
    organization: Organization,
    agent: AIAgent,
    refs: list[tuple[str, int | str]],
    problems: _Problems,
) -> dict[str, int]:
    """Each metric reference's path → the metric id; an error for a metric that is unknown or
    not enabled for the agent (the run would pass having checked nothing)."""
    ids = {r for _, r in refs if isinstance(r, int)}
    slugs = {r for _, r in refs if isinstance(r, str)}
    if not refs:
        return {}
    found = list(
        Metric.objects.filter(organization=organization)
        .filter(pk__in=ids)
        .prefetch_related("agents")
    ) + list(
        Metric.objects.filter(organization=organization, slug__in=slugs).prefetch_related("agents")
    )
    by_id = {m.pk: m for m in found}
    by_slug = {m.slug: m for m in found if m.slug}
    resolved: dict[str, int] = {}
    for where, ref in refs:
        metric = by_id.get(ref) if isinstance(ref, int) else by_slug.get(ref)
        if metric is None:
            if isinstance(ref, int):
                problems.add(where, f"No metric with id {ref} in this organization.")
            else:
                problems.add(
                    where,
                    f"No metric with slug '{ref}' in this organization. Check the slug in the "
                    "dashboard, or reference the metric by its numeric id.",
                )
            continue
        if agent.pk not in {a.pk for a in metric.agents.all()}:
            problems.add(
                where,
                f"Metric '{metric.name}' ({metric.slug or metric.pk}) is not enabled for agent "
                f"{agent.pk} ({agent.agent_name}): "
                "the run would pass without checking it. Enable it for this agent, or drop it from "
                "the spec.",
            )
            continue
        resolved[where] = metric.pk
    return resolved


def _resolve_personality(
    organization: Organization, value: int | dict[str, Any], path: str, problems: _Problems
) -> PersonalityChoice | None:
    base_id = value if isinstance(value, int) else value.get("base")
    base = None
    if base_id is not None:
        base = Personality.objects.filter(organization=organization, pk=base_id).first()
        if base is None:
            problems.add(
                path if isinstance(value, int) else _at(path, "base"),
                f"No personality with id {base_id} in this organization.",
            )
            return None
    fields = (
        {f: getattr(base, f) for f in PERSONALITY_FIELDS}
        if base
        else {
            f: cast(Field, Personality._meta.get_field(f)).get_default() for f in PERSONALITY_FIELDS
        }
    )
    if isinstance(value, int):
        assert base is not None
        return PersonalityChoice("existing", base.pk, base.name, fields)
    overrides = {k: v for k, v in value.items() if k != "base"}
    fields.update(overrides)
    if base is not None:
        return PersonalityChoice(
            "override", base.pk, str(overrides.get("name") or base.name), fields
        )
    fields["name"] = str(overrides.get("name") or "Inline personality")
    return PersonalityChoice("inline", None, fields["name"], fields)


def _fill_placeholders(
    case: dict[str, Any],
    path: str,
    profile: dict[str, Any],
    has_profile: bool,
    problems: _Problems,
    *,
    check: bool = True,
) -> dict[str, Any] | None:
    """The case's texts with `{{test_profile.<key>}}` replaced by the test data's value (caller
    variables over agent variables); None when a placeholder names no variable."""
    values = {**(profile.get("agent_variables") or {}), **(profile.get("caller_variables") or {})}
    ok = True

    def fill(text: str, where: str) -> str:
        nonlocal ok

        def one(match: re.Match[str]) -> str:
            nonlocal ok
            name = match.group(1)
            if name in values:
                value = values[name]
                return value if isinstance(value, str) else json.dumps(value)
            ok = False
            if not check:
                pass
            elif not has_profile:
                problems.add(
                    where,
                    f"{{{{test_profile.{name}}}}} is not defined: this case has no test_profile.",
                )
            else:
                problems.add(
                    where,
                    f"{{{{test_profile.{name}}}}} is not defined: test_profile has no "
                    f"agent_variables or caller_variables key '{name}'.",
                )
            return match.group(0)

        return PLACEHOLDER.sub(one, text)

    texts: dict[str, Any] = {}
    for key in ("instructions", "first_message", "expected_outcome"):
        if key in case:
            texts[key] = fill(case[key], _at(path, key))
    if "conditional_actions" in case:
        actions = case["conditional_actions"]
        conditions = []
        for i, cond in enumerate(actions["conditions"]):
            where = _at(_at(_at(path, "conditional_actions"), "conditions"), i)
            conditions.append(
                {
                    **cond,
                    "condition": fill(cond["condition"], _at(where, "condition")),
                    "action": fill(cond["action"], _at(where, "action")),
                }
            )
        texts["conditional_actions"] = {**actions, "conditions": conditions}
    return texts if ok else None


def case_scenario(case: dict[str, Any], *, organization_id: int, agent_id: int | None) -> Scenario:
    """A run's case as an unsaved Scenario, so a case is called and scored as a scenario is."""
    return Scenario(
        organization_id=organization_id,
        agent_id=agent_id,  # type: ignore[misc]  # never saved: a run's case may outlive its agent
        name=str(case.get("name") or ""),
        scenario_type=str(case.get("type") or ScenarioType.INSTRUCTION),
        instructions=str(case.get("instructions") or ""),
        conditional_actions=case.get("conditional_actions"),
        first_message=str(case.get("first_message") or "Hello"),
        expected_outcome_prompt=str(case.get("expected_outcome") or ""),
        tags=list(case.get("tags") or []),
        scenario_language=str(case.get("language") or "en"),
        max_duration=case.get("max_duration"),
    )


def case_personality(case: dict[str, Any]) -> Personality | None:
    """A run's case's personality as an unsaved Personality (None: the plain caller)."""
    fields = (case.get("personality") or {}).get("fields")
    if not fields:
        return None
    return Personality(**{k: v for k, v in fields.items() if k in PERSONALITY_FIELDS})

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlparse

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agora_runner.transcribe import mmss
from cekura.parsers import loads as bounded_json
from common.vocabulary import DEFAULT_SECRET_HEADER
from evaluators.custom import parse_rule
from evaluators.overall import failed_reasons, overall_evaluation

from .. import limits, schedules, selectors
from ..choices import TERMINAL, EvalType, MetricType, ScenarioType, Status
from ..models import (
    AIAgent,
    CronJob,
    Metric,
    Personality,
    Result,
    Run,
    Scenario,
    ShareLink,
    Webhook,
    WebhookDelivery,
)
from ..selectors import run_personality
from ..services import MSG_BAD_SCENARIOS, metric_slug_new, metric_slug_taken
from ..webhooks import EVENTS as WEBHOOK_EVENTS
from .fields import LenientIdField, coerce_id

AGORA_DATA_DEFAULTS = {
    "auth_header_name": DEFAULT_SECRET_HEADER,
    "request_method": "POST",
    "join_uid": 1,
}


class OrgScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A related id that must belong to the caller's organization (else: does not exist)."""

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()
        assert queryset is not None  # every such field is declared with a queryset
        return queryset.filter(organization=self.context["request"].user.organization)

    def to_internal_value(self, data: Any) -> Any:
        try:
            data = coerce_id(data)
        except ValueError:
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class AgoraDataSerializer(serializers.Serializer):
    session_endpoint_url = serializers.CharField(max_length=2000)
    client_id = serializers.CharField(max_length=500)
    auth_header_name = serializers.RegexField(
        r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
        max_length=200,
        required=False,
        default=DEFAULT_SECRET_HEADER,
        error_messages={"invalid": "Enter a valid HTTP header name."},
    )
    request_method = serializers.ChoiceField(
        choices=["POST", "GET"], required=False, default="POST"
    )
    join_uid = serializers.IntegerField(min_value=1, max_value=2**32 - 1, required=False, default=1)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("request_method"), str):
            data = {**data, "request_method": data["request_method"].upper()}
        return super().to_internal_value(data)

    def validate_session_endpoint_url(self, value: str) -> str:
        try:
            parsed = urlparse(value.strip())
            parsed.port  # noqa: B018 - raises on a port that is not a number or out of range
        except ValueError:
            raise serializers.ValidationError("Enter a valid http:// or https:// URL.") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise serializers.ValidationError("Enter a valid http:// or https:// URL.")
        return value.strip()


class AIAgentSerializer(serializers.ModelSerializer):
    agora_data = AgoraDataSerializer(required=False, allow_null=True)
    agora_api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=4000,
        style={"input_type": "password"},
    )
    agora_api_key_configured = serializers.BooleanField(read_only=True)

    class Meta:
        model = AIAgent
        fields = [
            "id",
            "agent_name",
            "description",
            "inbound",
            "language",
            "assistant_provider",
            "agent_gives_first_message",
            "agora_data",
            "agora_api_key",
            "agora_api_key_configured",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "description": {
                "required": True,
                "allow_blank": True,
                "max_length": limits.DESCRIPTION,
            },
            "inbound": {"required": True},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        secret = attrs.get("agora_api_key")
        has_secret = bool(secret) or (
            secret is None and self.instance is not None and self.instance.agora_api_key_configured
        )
        agora = attrs.get("agora_data", self.instance.agora_data if self.instance else None)
        if agora and not has_secret:
            raise serializers.ValidationError(
                {"agora_api_key": ["A secret is required when agora_data is configured."]}
            )
        return attrs

    def update(self, instance: AIAgent, validated_data: dict[str, Any]) -> AIAgent:
        # Write-only secret: an absent or empty value keeps the stored one.
        if not validated_data.get("agora_api_key"):
            validated_data.pop("agora_api_key", None)
        return super().update(instance, validated_data)


class ConditionSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, min_value=-(2**31), max_value=2**31 - 1)
    condition = serializers.CharField(allow_blank=True, max_length=limits.CONDITION)
    action = serializers.CharField(allow_blank=True, max_length=limits.LINE)
    type = serializers.CharField(required=False, default="standard")
    fixed_message = serializers.BooleanField(required=False, default=False)


class ConditionalActionsSerializer(serializers.Serializer):
    role = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=limits.ROLE
    )
    conditions = ConditionSerializer(many=True, required=False, default=list)

    def validate_conditions(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > limits.CONDITIONS:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limits.CONDITIONS} elements."
            )
        for i, cond in enumerate(value, start=1):
            cond.setdefault("id", i)
        return value


class ScenarioSerializer(serializers.ModelSerializer):
    agent = OrgScopedPrimaryKeyField(queryset=AIAgent.objects.all())
    metrics = OrgScopedPrimaryKeyField(queryset=Metric.objects.all(), many=True, required=False)
    conditional_actions = ConditionalActionsSerializer(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    max_duration = serializers.IntegerField(
        min_value=10, max_value=3600, required=False, allow_null=True
    )

    class Meta:
        model = Scenario
        fields = [
            "id",
            "name",
            "agent",
            "scenario_type",
            "instructions",
            "conditional_actions",
            "first_message",
            "expected_outcome_prompt",
            "metrics",
            "tags",
            "scenario_language",
            "max_duration",
            "personality",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "first_message": {"max_length": limits.LINE},
            "instructions": {"max_length": limits.TEXT},
            "expected_outcome_prompt": {"max_length": limits.TEXT},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get(
            "scenario_type",
            self.instance.scenario_type if self.instance else ScenarioType.INSTRUCTION,
        )
        actions = attrs.get(
            "conditional_actions", self.instance.conditional_actions if self.instance else None
        )
        if kind == ScenarioType.CONDITIONAL_ACTIONS and not (actions and actions.get("conditions")):
            raise serializers.ValidationError(
                {
                    "conditional_actions": [
                        "A conditional_actions scenario needs at least one condition."
                    ]
                }
            )
        return attrs


class PersonalitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Personality
        fields = [
            "id",
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
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"prompt": {"max_length": limits.TEXT}}

    def validate_voice(self, value: str) -> str:
        from agora_runner.speech import PiperTTS

        if value != PiperTTS.voice_name:
            raise serializers.ValidationError(f"Unknown voice; available: {PiperTTS.voice_name}.")
        return value


class MetricSerializer(serializers.ModelSerializer):
    agents = OrgScopedPrimaryKeyField(queryset=AIAgent.objects.all(), many=True, required=False)
    slug = serializers.RegexField(
        r"^[a-z0-9_]+$",
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="How a spec file names this metric; derived from the name when left out.",
        error_messages={"invalid": "A slug is lowercase letters, digits and _ only."},
    )

    class Meta:
        model = Metric
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "eval_type",
            "enum_values",
            "type",
            "prompt",
            "configuration",
            "agents",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "prompt": {"max_length": limits.TEXT},
            "description": {"max_length": limits.DESCRIPTION},
        }

    def validate_slug(self, value: str) -> str:
        organization = self.context["request"].user.organization
        if value and metric_slug_taken(
            organization=organization,
            slug=value,
            exclude_pk=self.instance.pk if self.instance else None,
        ):
            raise serializers.ValidationError("Another metric of this organization has this slug.")
        return value

    def create(self, validated_data: dict[str, Any]) -> Metric:
        if not validated_data.get("slug"):
            validated_data["slug"] = metric_slug_new(
                organization=validated_data["organization"], name=validated_data.get("name", "")
            )
        return super().create(validated_data)

    def update(self, instance: Metric, validated_data: dict[str, Any]) -> Metric:
        if "slug" in validated_data and not validated_data["slug"]:
            validated_data["slug"] = metric_slug_new(
                organization=instance.organization,
                name=validated_data.get("name", instance.name),
                exclude_pk=instance.pk,
            )
        return super().update(instance, validated_data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str, default: Any) -> Any:
            return attrs.get(
                name, getattr(self.instance, name, default) if self.instance else default
            )

        eval_type = current("eval_type", EvalType.BINARY)
        enum_values = current("enum_values", [])
        if eval_type == EvalType.ENUM:
            if (
                not enum_values
                or not isinstance(enum_values, list)
                or not all(isinstance(v, str) and v for v in enum_values)
            ):
                raise serializers.ValidationError(
                    {"enum_values": ["An enum metric needs enum_values: a list of names."]}
                )
        if current("type", MetricType.LLM_JUDGE) == MetricType.LLM_JUDGE:
            if not str(current("prompt", "")).strip():
                raise serializers.ValidationError(
                    {"prompt": ["An llm_judge metric needs a prompt: what the judge should check."]}
                )
        else:
            try:
                parse_rule(current("configuration", {}), eval_type)
            except ValueError as exc:
                raise serializers.ValidationError({"configuration": [str(exc)]}) from None
        return attrs


class RunScenariosAgoraSerializer(serializers.Serializer):
    """Input of run_scenarios_agora. Unknown fields are ignored; ids may be strings."""

    scenarios = serializers.JSONField()
    agent_id = LenientIdField(required=False, allow_null=True)
    frequency = serializers.IntegerField(
        min_value=1, max_value=limits.FREQUENCY, required=False, default=1
    )
    name = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, default=""
    )
    concurrency_limit = serializers.IntegerField(
        min_value=1, max_value=limits.CONCURRENCY, required=False, allow_null=True, default=None
    )
    personality_ids = serializers.ListField(
        child=LenientIdField(), required=False, allow_null=True, allow_empty=True, default=None
    )

    def validate_scenarios(self, value: Any) -> dict[str, Any]:
        bad = serializers.ValidationError(MSG_BAD_SCENARIOS)
        if isinstance(value, str) and value.strip().lower() == "all":
            return {"all": True}
        if isinstance(value, list):
            if not value:
                raise bad
            try:
                return {"ids": [coerce_id(v) for v in value]}
            except ValueError:
                raise bad from None
        try:
            n = coerce_id(value)
        except ValueError:
            raise bad from None
        if n < 1:
            raise bad
        return {"first_n": n}


class SpecLaunchSerializer(serializers.Serializer):
    """Input of run_scenarios_json and validate_scenarios_json (Tests as Code): the target
    agent in the request, the spec as a JSON object (`spec`) or a .json file (`file`,
    multipart). Unknown fields are ignored."""

    agent_id = LenientIdField()
    spec = serializers.JSONField(
        required=False, allow_null=True, help_text='The spec (format version "1") as a JSON object.'
    )
    file = serializers.FileField(
        required=False,
        allow_empty_file=True,
        help_text="The spec as a .json file (multipart/form-data).",
    )
    channel = serializers.CharField(required=False, default="voice", max_length=40)
    name = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, default=""
    )
    frequency = serializers.IntegerField(
        min_value=1,
        max_value=limits.FREQUENCY,
        required=False,
        default=1,
        help_text="Multiplies every case's frequency.",
    )
    concurrency_limit = serializers.IntegerField(
        min_value=1, max_value=limits.CONCURRENCY, required=False, allow_null=True, default=None
    )
    detect_from = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        help_text="With detect_to: the plan's power section also states this drop in pass rate "
        "(e.g. 0.9 to 0.7).",
    )
    detect_to = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)

    def validate_channel(self, value: str) -> str:
        if value.strip().lower() in SPEC_CHANNELS:
            return value.strip().lower()
        raise serializers.ValidationError(
            f'"{value[:40]}" runs are not available on this server: its agents live in Agora '
            "channels. "
            'Use channel "voice" (the default).'
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("spec") is not None) == (attrs.get("file") is not None):
            raise serializers.ValidationError(
                {
                    "spec": [
                        "Send exactly one of spec (a JSON object) or file (a .json spec file, as "
                        "multipart)."
                    ]
                }
            )
        drop = (attrs.get("detect_from"), attrs.get("detect_to"))
        if (drop[0] is None) != (drop[1] is None):
            missing = "detect_to" if drop[1] is None else "detect_from"
            raise serializers.ValidationError(
                {missing: ["Send detect_from and detect_to together (pass rates, 0 to 1)."]}
            )
        if drop[0] is not None and drop[0] == drop[1]:
            raise serializers.ValidationError(
                {
                    "detect_to": [
                        "Must differ from detect_from: no number of runs tells equal "
                        "pass rates apart."
                    ]
                }
            )
        return attrs


SPEC_CHANNELS = ("voice", "agora", "webrtc")


class ShareLinkCreateSerializer(serializers.Serializer):
    expire_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the link stops working; default in 7 days; null: until revoked.",
    )

    def validate_expire_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class ReportShareSerializer(ShareLinkCreateSerializer):
    result_ids = serializers.ListField(child=LenientIdField(), allow_empty=False, max_length=100)
    name = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, default=""
    )


class ShareLinkSerializer(serializers.ModelSerializer):
    """A share link as listed: never its token (only its digest is stored)."""

    result_ids = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()

    class Meta:
        model = ShareLink
        fields = ["id", "name", "result_ids", "expire_at", "revoked_at", "active", "created_at"]

    @extend_schema_field({"type": "array", "items": {"type": "integer"}})
    def get_result_ids(self, link: ShareLink) -> list[int]:
        return sorted(r.pk for r in link.results.all())

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_active(self, link: ShareLink) -> bool:
        return link.revoked_at is None and (
            link.expire_at is None or link.expire_at > timezone.now()
        )


class RecordingScoreSerializer(serializers.Serializer):
    recording = serializers.FileField(
        help_text=(
            "Stereo recording, caller left, agent right: WAV, FLAC, Ogg or MP3, 8 to 192 kHz "
            "(resampled to 16 kHz)."
        )
    )
    caller_turns = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='JSON [{"start_s": …, "end_s": …}, …]',
        error_messages={
            "invalid": 'Not valid JSON: give [{{"start_s": …, "end_s": …}}, …].'
        },  # braces doubled: DRF formats it
    )

    def validate_recording(self, value: Any) -> Any:
        if value.size > RECORDING_MAX_BYTES:
            raise serializers.ValidationError(
                f"The recording is larger than {RECORDING_MAX_BYTES // 1_000_000} MB."
            )
        return value

    def validate_caller_turns(self, value: Any) -> Any:
        if isinstance(value, str):  # a multipart form field holds JSON text
            try:
                return bounded_json(value)
            except ValueError:
                raise serializers.ValidationError(
                    'Not valid JSON: give [{"start_s": …, "end_s": …}, …].'
                ) from None
        return value


RECORDING_MAX_BYTES = 60_000_000  # 15 minutes of 16 kHz stereo s16 is 57.6 MB (FLAC: about half)


class RunBriefSerializer(serializers.ModelSerializer):
    scenario_name = serializers.CharField(read_only=True)

    class Meta:
        model = Run
        fields = ["id", "status", "scenario", "scenario_name"]


def metric_for_clients(metric: dict[str, Any]) -> dict[str, Any]:
    """A stored metric as clients read it: binary metrics also carry the hosted product's
    legacy fields (`type` binary_workflow_adherence, `score` 5 / 0, `score_normalized` 1 / 0),
    which its CI scripts read to name a failing metric; not applicable: null."""
    if metric.get("eval_type") != EvalType.BINARY:
        return metric
    passed = metric.get("passed")
    return {
        **metric,
        "type": "binary_workflow_adherence",
        "score": None if passed is None else (5 if passed else 0),
        "score_normalized": None if passed is None else (1 if passed else 0),
    }


def evaluation_for_clients(evaluation: Any) -> dict[str, Any]:
    evaluation = dict(evaluation or {})
    evaluation["metrics"] = [
        metric_for_clients(m) if isinstance(m, dict) else m for m in evaluation.get("metrics") or []
    ]
    return evaluation


class RunSerializer(serializers.ModelSerializer):
    scenario_name = serializers.CharField(read_only=True)
    scenario_key = serializers.CharField(
        read_only=True,
        help_text="A spec file case's key (Tests as Code); empty for a stored scenario.",
    )
    evaluation = serializers.SerializerMethodField()
    agent_name = serializers.SerializerMethodField()
    result_id = serializers.IntegerField(source="result.id", read_only=True)
    result_name = serializers.CharField(source="result.name", read_only=True)
    duration = serializers.SerializerMethodField()
    voice_recording_url = serializers.SerializerMethodField()
    metadata = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "scenario",
            "scenario_name",
            "scenario_key",
            "agent",
            "agent_name",
            "result_id",
            "result_name",
            "status",
            "success",
            "evaluation",
            "expected_outcome_prompt",
            "expected_outcome",
            "transcript",
            "transcript_object",
            "duration",
            "voice_recording_url",
            "error_message",
            "metadata",
            "run_type",
            "testing_channel_index",
            "personality",
            "timestamp",
            "executed_at",
        ]

    def get_agent_name(self, run: Run) -> str:
        return run.agent.agent_name if run.agent else run.result.agent_name

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_evaluation(self, run: Run) -> dict[str, Any]:
        return evaluation_for_clients(run.evaluation)

    @extend_schema_field(OpenApiTypes.STR)
    def get_duration(self, run: Run) -> str | None:
        return mmss(run.duration_seconds) if run.duration_seconds is not None else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_voice_recording_url(self, run: Run) -> str | None:
        if not run.recording:
            return None
        path = reverse("run-recording", kwargs={"pk": run.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_metadata(self, run: Run) -> dict[str, Any]:
        return run.api_metadata()


class ResultRunSerializer(RunSerializer):
    """A run inside a result's detail: its scenario as an object, as the hosted product's
    result answers and webhooks carry it (its clients label a run by `scenario.name`)."""

    scenario = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_scenario(self, run: Run) -> dict[str, Any]:
        personality = run_personality(run) if run.case or run.personality_id else None
        return {
            "id": run.scenario_id,
            "name": run.scenario_name,
            "key": run.scenario_key,
            "personality_name": personality.name if personality else None,
            "expected_outcome_prompt": run.expected_outcome_prompt,
        }


class _ResultCountsMixin(serializers.Serializer):
    total_runs_count = serializers.SerializerMethodField()
    completed_runs_count = serializers.SerializerMethodField()
    success_runs_count = serializers.SerializerMethodField()
    failed_runs_count = serializers.SerializerMethodField()

    def _counts(self, result: Result) -> dict[str, Any]:
        cache = cast(dict[str, Any], self.context).setdefault("_counts", {})
        if result.pk not in cache:
            cache[result.pk] = selectors.result_progress(result)
        return cache[result.pk]

    def get_total_runs_count(self, result: Result) -> int:
        return int(self._counts(result)["total"])

    def get_completed_runs_count(self, result: Result) -> int:
        return int(self._counts(result)["completed"])

    def get_success_runs_count(self, result: Result) -> int:
        return int(self._counts(result)["success"])

    def get_failed_runs_count(self, result: Result) -> int:
        return int(self._counts(result)["failed"])


RESULT_FIELDS = [
    "id",
    "name",
    "agent",
    "agent_name",
    "status",
    "success_rate",
    "run_as_text",
    "is_cronjob",
    "cron_job",
    "runs",
    "total_runs_count",
    "completed_runs_count",
    "success_runs_count",
    "failed_runs_count",
    "run_type",
    "created_at",
    "updated_at",
]


class ResultLaunchSerializer(serializers.ModelSerializer):
    """The answer of run_scenarios_agora (spec/agora-simulations.md, Response)."""

    runs = RunBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Result
        fields = [
            "id",
            "name",
            "agent",
            "status",
            "success_rate",
            "run_as_text",
            "is_cronjob",
            "runs",
            "created_at",
            "updated_at",
        ]


class ResultListSerializer(_ResultCountsMixin, serializers.ModelSerializer):
    runs = RunBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Result
        fields = RESULT_FIELDS


def rescore_state(result: Result) -> dict[str, Any] | None:
    """Where the result's re-score (evaluate_metrics) stands; None if none was asked for."""
    if not result.rescore_state:
        return None
    return {
        "state": result.rescore_state,  # queued | running | done | failed
        "done": result.rescore_done,
        "total": result.rescore_total,
        "error": result.rescore_error or None,
        "requested_at": result.rescore_requested_at,
    }


class ResultDetailSerializer(ResultListSerializer):
    runs = serializers.SerializerMethodField()  # type: ignore[assignment]  # the list's brief runs, in full
    total_duration = serializers.SerializerMethodField()
    overall_evaluation = serializers.SerializerMethodField()
    run_settings = serializers.SerializerMethodField()
    failed_reasons = serializers.SerializerMethodField()
    rescore = serializers.SerializerMethodField()

    class Meta:
        model = Result
        fields = RESULT_FIELDS + [
            "total_duration",
            "overall_evaluation",
            "run_settings",
            "failed_reasons",
            "rescore",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_rescore(self, result: Result) -> dict[str, Any] | None:
        return rescore_state(result)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_runs(self, result: Result) -> dict[str, Any]:
        runs = result.runs.select_related("scenario", "agent", "result", "personality")
        return {str(r.pk): ResultRunSerializer(r, context=self.context).data for r in runs}

    @extend_schema_field(OpenApiTypes.STR)
    def get_total_duration(self, result: Result) -> str:
        return mmss(float(self._counts(result)["duration"] or 0.0))

    def _finished(self, result: Result) -> list[dict[str, Any]]:
        if not hasattr(result, "_finished_runs"):
            fields = ("status", "success", "evaluation", "expected_outcome", "ended_reason")
            result._finished_runs = list(result.runs.filter(status__in=TERMINAL).values(*fields))  # type: ignore[attr-defined]
        return result._finished_runs  # type: ignore[attr-defined]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_overall_evaluation(self, result: Result) -> dict[str, Any]:
        return overall_evaluation(
            [r for r in self._finished(result) if r["status"] == Status.COMPLETED]
        )

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_run_settings(self, result: Result) -> dict[str, Any]:
        return {"frequency": result.frequency, "concurrency_limit": result.concurrency_limit}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_failed_reasons(self, result: Result) -> dict[str, int]:
        return failed_reasons(self._finished(result))


class PredefinedMetricSerializer(serializers.Serializer):
    """A metric of the built-in catalogue (read only; no timestamps: it is not a stored row)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    eval_type = serializers.ChoiceField(
        choices=["binary", "numeric", "enum", "continuous_qualitative"]
    )
    enum_values = serializers.ListField(child=serializers.CharField())
    type = serializers.CharField()
    prompt = serializers.CharField(allow_blank=True)
    configuration = serializers.DictField()
    agents = serializers.ListField(child=serializers.IntegerField())


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook. `secret` is write-only: it is sent in each delivery's X-CEKURA-SECRET header
    and keys its signature, and is never shown again (`has_secret` says whether one is set)."""

    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, trim_whitespace=False
    )
    has_secret = serializers.SerializerMethodField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(WEBHOOK_EVENTS)),
        allow_empty=False,
        help_text="result.completed (a result's last run ended), run.completed (one run ended)",
    )

    class Meta:
        model = Webhook
        fields = ["id", "url", "secret", "has_secret", "events", "enabled", "created_at"]
        read_only_fields = ["id", "has_secret", "created_at"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_secret(self, hook: Webhook) -> bool:
        return bool(hook.secret)

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("A webhook URL starts with http:// or https://.")
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def update(self, instance: Webhook, validated_data: dict[str, Any]) -> Webhook:
        if not validated_data.get("secret"):
            validated_data.pop("secret", None)  # left out or blank: the secret is kept
        return super().update(instance, validated_data)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    """A delivery: the event, its body, and how its last attempt went."""

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "event",
            "idempotency_key",
            "state",
            "attempts",
            "status_code",
            "error",
            "duration_ms",
            "payload",
            "created_at",
            "delivered_at",
        ]
        read_only_fields = fields


class CronJobSerializer(serializers.ModelSerializer):
    """A schedule. `scenarios` as run_scenarios takes them: a list of ids, a number N (the
    agent's first N), or "all". The answer says when it fires next, in UTC and in words."""

    agent = OrgScopedPrimaryKeyField(queryset=AIAgent.objects.all())
    scenarios = serializers.JSONField(help_text='A list of scenario ids, a number N, or "all".')
    personality_ids = serializers.ListField(
        child=LenientIdField(), required=False, allow_empty=True, default=list
    )
    frequency = serializers.IntegerField(min_value=1, max_value=limits.FREQUENCY, default=1)
    concurrency_limit = serializers.IntegerField(
        min_value=1, max_value=limits.CONCURRENCY, required=False, allow_null=True
    )
    description = serializers.SerializerMethodField()
    next_fire_times = serializers.SerializerMethodField()

    class Meta:
        model = CronJob
        fields = [
            "id",
            "name",
            "expression",
            "timezone",
            "description",
            "agent",
            "scenarios",
            "frequency",
            "concurrency_limit",
            "personality_ids",
            "enabled",
            "allow_overlap",
            "next_fire_at",
            "next_fire_times",
            "created_at",
        ]
        read_only_fields = ["id", "description", "next_fire_at", "next_fire_times", "created_at"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_description(self, job: CronJob) -> str:
        return schedules.describe(job.expression, job.timezone)

    @extend_schema_field({"type": "array", "items": {"type": "string", "format": "date-time"}})
    def get_next_fire_times(self, job: CronJob) -> list[str]:
        if not job.enabled:
            return []
        times = schedules.next_fire_times(job.expression, job.timezone, timezone.now(), 5)
        return [t.isoformat() for t in times]

    def validate_scenarios(self, value: Any) -> dict[str, Any]:
        return RunScenariosAgoraSerializer().validate_scenarios(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        expression = attrs.get("expression", getattr(self.instance, "expression", ""))
        zone = attrs.get("timezone", getattr(self.instance, "timezone", "UTC"))
        try:
            schedules.check(expression, zone)
        except schedules.ScheduleError as exc:
            field = "timezone" if "time zone" in str(exc) else "expression"
            raise serializers.ValidationError({field: [str(exc)]}) from None
        return attrs

"""Thin viewsets: validate with an input serializer, call one service, answer with an
output serializer. Tenant scoping lives once, in OrgScopedViewSet."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.http import Http404
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import fields as drf_fields
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cekura.accounts.models import Organization
from cekura.auth import ApiKeyPrincipal
from cekura.errors import InvalidInput
from cekura.ranged import stored_file_response
from cekura.throttling import LAUNCH_THROTTLES
from evaluators import RecordingError, catalogue, read_recording, score_recording

from .. import selectors, services, webhooks
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
from ..specs import Plan
from .fields import coerce_id
from .serializers import (
    AIAgentSerializer,
    CronJobSerializer,
    MetricSerializer,
    PersonalitySerializer,
    PredefinedMetricSerializer,
    RecordingScoreSerializer,
    ReportShareSerializer,
    ResultDetailSerializer,
    ResultLaunchSerializer,
    ResultListSerializer,
    RunScenariosAgoraSerializer,
    RunSerializer,
    ScenarioSerializer,
    ShareLinkCreateSerializer,
    ShareLinkSerializer,
    SpecLaunchSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
    rescore_state,
)

MAX_BULK_IDS = 1000  # runs/bulk/: ids in one request


def org_of(request: Request) -> Organization:
    """The organization the request acts for: authentication (an API key) guarantees one."""
    return cast(ApiKeyPrincipal, request.user).organization


class OrgScopedViewSet(viewsets.GenericViewSet):
    """Every query is scoped to the API key's organization; other ids answer 404."""

    lookup_value_regex = r"[0-9]+"
    model: type[Any]

    def get_queryset(self) -> Any:
        return self.model.objects.filter(organization=org_of(self.request))

    def get_object(self) -> Any:
        try:
            coerce_id(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        except ValueError:
            raise Http404 from None  # past any id the database can hold
        return super().get_object()


class CrudViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OrgScopedViewSet,
):
    def perform_create(self, serializer: Any) -> None:
        # Rows always belong to the key's organization, whatever the body says.
        serializer.save(organization=org_of(self.request))


class AIAgentViewSet(CrudViewSet):
    model = AIAgent
    serializer_class = AIAgentSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "last",
                int,
                description=f"how many latest results (1-100, default {selectors.TREND_RESULTS})",
            )
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], url_path="trends", pagination_class=None)
    def trends(self, request: Request, pk: Any = None) -> Response:
        """The agent's last ended results, oldest first: each one's pass rate with its Wilson
        95 % interval and its turns' latency p50/p90; and the cases that both passed and failed
        across them (flaky_cases)."""
        agent = self.get_object()
        raw = request.query_params.get("last", str(selectors.TREND_RESULTS))
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            return Response({"last": ["A whole number from 1 to 100."]}, status=400)
        trend = selectors.agent_trend(organization=org_of(request), agent=agent, last=int(raw))
        return Response(trend)


class PersonalityViewSet(CrudViewSet):
    model = Personality
    serializer_class = PersonalitySerializer


class MetricViewSet(CrudViewSet):
    model = Metric
    serializer_class = MetricSerializer
    pagination_class = None  # metrics/ answers a bare array

    def get_queryset(self) -> Any:
        return super().get_queryset().prefetch_related("agents")


class ScenarioViewSet(CrudViewSet):
    model = Scenario
    serializer_class = ScenarioSerializer

    def get_queryset(self) -> Any:
        qs = selectors.scenario_list(organization=org_of(self.request))
        for name in ("agent_id", "agent"):
            if self.request.query_params.get(name):
                return qs.filter(agent_id=_id_param(self.request.query_params[name], name))
        return qs

    @extend_schema(request=RunScenariosAgoraSerializer, responses={200: ResultLaunchSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="run_scenarios_agora",
        throttle_classes=LAUNCH_THROTTLES,
    )
    def run_scenarios_agora(self, request: Request) -> Response:
        """Start one Agora run per scenario × frequency; answers the new result."""
        return self._launch(request, any_agents_scenarios=False)

    @extend_schema(request=RunScenariosAgoraSerializer, responses={200: ResultLaunchSerializer})
    @action(
        detail=False, methods=["post"], url_path="run_scenarios", throttle_classes=LAUNCH_THROTTLES
    )
    def run_scenarios(self, request: Request) -> Response:
        """The hosted product's launch path, which its CI clients call: for an agent with Agora
        configured, exactly run_scenarios_agora, except that the scenarios may belong to
        another agent of the organization (a catalog agent's scenarios run against
        `agent_id`). Fields that do not apply here (project_id, mode, agent_number,
        mock_tool_names, …) are ignored."""
        return self._launch(request, any_agents_scenarios=True)

    def _launch(self, request: Request, *, any_agents_scenarios: bool) -> Response:
        incoming = RunScenariosAgoraSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        result = services.result_launch_selected(
            organization=org_of(request),
            agent_id=data.get("agent_id"),
            scenario_ids=data["scenarios"].get("ids"),
            first_n=data["scenarios"].get("first_n"),
            frequency=data["frequency"],
            name=data.get("name") or "",
            concurrency_limit=data.get("concurrency_limit"),
            personality_ids=data.get("personality_ids"),
            any_agents_scenarios=any_agents_scenarios,
        )
        return _launched(request, result)

    @extend_schema(
        request={
            "application/json": SpecLaunchSerializer,
            "multipart/form-data": SpecLaunchSerializer,
        },
        parameters=[
            OpenApiParameter(
                "dry_run",
                bool,
                description="Check and price the spec (balance included) without creating anything.",  # noqa: E501
            )
        ],
        responses={200: ResultLaunchSerializer, 402: OpenApiTypes.OBJECT},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="run_scenarios_json",
        throttle_classes=LAUNCH_THROTTLES,
    )
    def run_scenarios_json(self, request: Request) -> Response:
        """Tests as Code: run a spec file's cases (format version "1") against `agent_id`'s
        Agora channel. Every problem in the spec is a 400 keyed by its place in the file, and
        nothing is created. With `?dry_run=true`: the plan, as validate_scenarios_json answers
        it, after checking the balance too."""
        plan, data = self._plan(request)
        dry_run = str(request.query_params.get("dry_run", "")).lower() in ("1", "true", "yes")
        result = services.result_launch_spec_checked(
            organization=org_of(request),
            plan=plan,
            name=data.get("name") or "",
            frequency=data["frequency"],
            dry_run=dry_run,
        )
        if result is None:
            return Response({"dry_run": True, "valid": True, "plan": plan.as_dict()})
        return _launched(request, result)

    @extend_schema(
        request={
            "application/json": SpecLaunchSerializer,
            "multipart/form-data": SpecLaunchSerializer,
        },
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["post"], url_path="validate_scenarios_json")
    def validate_scenarios_json(self, request: Request) -> Response:
        """Check a spec file and answer the plan a launch would create (cases, runs, estimated
        cost in credits), without creating anything or checking the balance."""
        plan, _ = self._plan(request)
        return Response({"dry_run": True, "valid": True, "plan": plan.as_dict()})

    def _plan(self, request: Request) -> tuple[Plan, dict[str, Any]]:
        incoming = SpecLaunchSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        plan = services.spec_plan_for(
            organization=org_of(request),
            agent_id=data["agent_id"],
            spec=data.get("spec"),
            file=data.get("file"),
            channel=data["channel"],
            frequency=data["frequency"],
            concurrency_limit=data.get("concurrency_limit"),
        )
        if data.get("detect_from") is not None:
            plan.drops = ((data["detect_from"], data["detect_to"]),)
        return plan, data


def _launched(request: Request, result: Result) -> Response:
    result = Result.objects.prefetch_related("runs__scenario").get(pk=result.pk)
    return Response(
        ResultLaunchSerializer(result, context={"request": request}).data, status=status.HTTP_200_OK
    )


RUN_FILTERS = [
    OpenApiParameter(
        "scenario_key",
        str,
        description="A spec file case's key: that case's runs across results (its CI history).",
    ),
    OpenApiParameter("agent_id", int, description="Runs against this agent."),
    OpenApiParameter("result_id", int, description="Runs of this result."),
    OpenApiParameter("scenario_id", int, description="Runs of this stored scenario."),
    OpenApiParameter("status", str, description="Runs in this status."),
]


@extend_schema_view(list=extend_schema(parameters=RUN_FILTERS))
class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = Run
    serializer_class = RunSerializer

    def get_queryset(self) -> Any:
        qs = selectors.run_list(organization=org_of(self.request))
        if self.action != "list":
            return qs
        params = self.request.query_params
        if params.get("scenario_key"):
            qs = qs.filter(scenario_key=params["scenario_key"])
        for name, column in (
            ("agent_id", "agent_id"),
            ("agent", "agent_id"),
            ("result_id", "result_id"),
            ("result", "result_id"),
            ("scenario_id", "scenario_id"),
        ):
            if params.get(name):
                qs = qs.filter(**{column: _id_param(params[name], name)})
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        return qs.order_by("-id")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "run_ids", str, required=True, description="Comma-separated run ids, e.g. 1,2,3"
            )
        ],
        responses={200: RunSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], url_path="bulk", pagination_class=None)
    def bulk(self, request: Request) -> Response:
        """List Runs with IDs: a bare array of the runs named by `run_ids`."""
        raw = request.query_params.get("run_ids", "")
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        try:
            ids = [coerce_id(p) for p in parts]
        except ValueError:
            ids = []
        if not ids or len(ids) > MAX_BULK_IDS:
            raise InvalidInput(
                f"run_ids must be a comma-separated list of at most {MAX_BULK_IDS} run ids, e.g. "
                "1,2,3.",
                field="run_ids",
            )
        runs = self.get_queryset().filter(pk__in=ids).order_by("id")
        return Response(RunSerializer(runs, many=True, context={"request": request}).data)

    @extend_schema(request=None, responses={200: RunSerializer})
    @action(detail=True, methods=["post"], url_path="end_call")
    def end_call(self, request: Request, pk: str | None = None) -> Response:
        """End this run: not started yet → cancelled now; in a call → the caller hangs up within
        about a second and the run ends `cancelled`, keeping what was recorded; being scored →
        it ends `cancelled`, unscored, keeping its recording and transcript."""
        run = services.run_request_cancel(run=self.get_object())
        return Response(RunSerializer(run, context={"request": request}).data)

    @extend_schema(responses={(200, "audio/wav"): bytes})
    @action(detail=True, methods=["get"], url_path="recording", url_name="recording")
    def recording(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        """The call's stereo WAV: caller on the left (testing_channel_index 0), agent on the
        right. Byte ranges are honoured."""
        run = self.get_object()
        if not run.recording:
            deleted = (run.metadata or {}).get("recording_deleted_at")
            raise Http404(
                f"This run's recording was deleted on {deleted[:10]} (recordings are kept "
                f"{run.metadata.get('recording_retention_days')} days)."
                if deleted
                else "This run has no recording."
            )
        return stored_file_response(request, run.recording, "audio/wav", f"run-{run.pk}.wav")


class ResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = Result

    def get_queryset(self) -> Any:
        return selectors.result_list(organization=org_of(self.request))

    def get_serializer_class(self) -> Any:
        return ResultDetailSerializer if self.action == "retrieve" else ResultListSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("baseline", int, required=True, description="the result before"),
            OpenApiParameter("candidate", int, required=True, description="the result after"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], url_path="compare", pagination_class=None)
    def compare(self, request: Request) -> Response:
        """Did the candidate make things better or worse than the baseline? Per case and per
        measure (the run's success and binary metrics as pass rates with Wilson intervals and
        Fisher's exact test; latency per turn and numeric metrics as medians with a bootstrap
        interval and the Mann-Whitney test), p-values adjusted across rows (Benjamini-
        Hochberg), each row `better`, `worse`, or `no clear change` at 0.05."""
        results: dict[str, Result] = {}
        errors: dict[str, list[str]] = {}
        for key in ("baseline", "candidate"):
            raw = request.query_params.get(key)
            try:
                pk = coerce_id(raw) if raw is not None else None
            except ValueError:
                pk = None
            found = self.get_queryset().filter(pk=pk).first() if pk is not None else None
            if found is None:
                errors[key] = [
                    "This query parameter is required: a result id."
                    if raw is None
                    else f"No result {str(raw)[:40]!r} in your organization."
                ]
            else:
                results[key] = found
        if errors:
            return Response(errors, status=400)
        return Response(
            selectors.result_comparison(
                baseline=results["baseline"], candidate=results["candidate"]
            )
        )

    @extend_schema(request=None, responses={200: ResultDetailSerializer})
    @action(detail=True, methods=["post"], url_path="end_calls")
    def end_calls(self, request: Request, pk: str | None = None) -> Response:
        """Cancel the result's runs: those not started end now; live calls hang up within
        about a second, keeping what was recorded."""
        result = services.result_cancel(result=self.get_object())
        return Response(ResultDetailSerializer(result, context={"request": request}).data)

    @extend_schema(
        request=ShareLinkCreateSerializer,
        responses={
            200: inline_serializer("ShareableLink", {"shareable_link": drf_fields.URLField()})
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="create_shareable_link_token",
        throttle_classes=LAUNCH_THROTTLES,
    )
    def create_shareable_link_token(self, request: Request, pk: str | None = None) -> Response:
        """A link anyone can open, without a key, to read this result (runs, transcripts,
        metrics, recordings) until `expire_at` (default: in 7 days). The link is shown once."""
        result = self.get_object()
        incoming = ShareLinkCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        expire_at = (
            incoming.validated_data["expire_at"] if "expire_at" in incoming.validated_data else ...
        )
        _, token = services.share_link_create(
            organization=org_of(request),
            results=[result],
            name=result.name,
            expire_at=expire_at,
        )
        return Response({"shareable_link": share_url(request, token)})

    @extend_schema(
        request=ReportShareSerializer,
        responses={
            200: inline_serializer(
                "SharedReport",
                {
                    "id": drf_fields.IntegerField(),
                    "share_url": drf_fields.URLField(),
                    "expire_at": drf_fields.DateTimeField(allow_null=True),
                },
            )
        },
    )
    @action(
        detail=False, methods=["post"], url_path="reports/share", throttle_classes=LAUNCH_THROTTLES
    )
    def share_report(self, request: Request) -> Response:
        """One link to a report of several results, readable without a key until `expire_at`
        (null: until revoked through share-links/). The link is shown once."""
        incoming = ReportShareSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        ids = list(dict.fromkeys(data["result_ids"]))
        results = list(self.get_queryset().filter(pk__in=ids))
        if len(results) != len(ids):
            raise InvalidInput("Invalid result IDs or results not found", field="result_ids")
        expire_at = data["expire_at"] if "expire_at" in data else ...
        link, token = services.share_link_create(
            organization=org_of(request),
            results=results,
            name=data.get("name") or "",
            expire_at=expire_at,
        )
        return Response(
            {"id": link.pk, "share_url": share_url(request, token), "expire_at": link.expire_at}
        )

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "wait", bool, description="re-score inside the request and answer the result"
            )
        ],
        responses={200: ResultDetailSerializer, 202: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"], url_path="evaluate_metrics")
    def evaluate_metrics(self, request: Request, pk: str | None = None) -> Response:
        """Re-score the result's completed runs from their stored recordings and transcripts
        with the current metrics and expected outcomes, without calling again: in the
        background (202, with `rescore` to follow in results/{id}/), or with `?wait=true`
        inside the request (200, the re-scored result)."""
        result = self.get_object()
        if str(request.query_params.get("wait", "")).lower() in ("1", "true", "yes"):
            result, _ = services.result_reevaluate(result=result)
            result = Result.objects.prefetch_related("runs__scenario").get(pk=result.pk)
            return Response(ResultDetailSerializer(result, context={"request": request}).data)
        result = services.result_rescore_request(result=result)
        return Response({"id": result.pk, "rescore": rescore_state(result)}, status=202)


def _id_param(raw: str, name: str) -> int:
    try:
        return coerce_id(raw)
    except ValueError:
        raise InvalidInput("A valid integer is required.", field=name) from None


class ShareLinkViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """The organization's share links (never their tokens). Deleting one revokes it: its page
    answers 404 from then on."""

    model = ShareLink
    serializer_class = ShareLinkSerializer

    def get_queryset(self) -> Any:
        return super().get_queryset().prefetch_related("results")

    def perform_destroy(self, instance: ShareLink) -> None:
        services.share_link_revoke(link=instance)

    @extend_schema(request=None, responses={200: ShareLinkSerializer})
    @action(detail=True, methods=["post"], url_path="revoke")
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Revoke the link: its page answers 404 from then on."""
        link = services.share_link_revoke(link=self.get_object())
        return Response(ShareLinkSerializer(link).data)


class WebhookViewSet(CrudViewSet):
    """Where the organization is told about its results: a URL, a secret (write-only), the
    events wanted. Each delivery carries X-CEKURA-SECRET, an HMAC-SHA256 signature
    (X-CEKURA-SIGNATURE over X-CEKURA-TIMESTAMP and the body) and an idempotency key."""

    model = Webhook
    serializer_class = WebhookSerializer


class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    """Every delivery of the organization's webhooks, newest first (`?webhook=<id>` for one),
    with how its last attempt went; `resend` sends one again."""

    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer

    def get_queryset(self) -> Any:
        qs = super().get_queryset()
        if self.request.query_params.get("webhook"):
            qs = qs.filter(webhook_id=_id_param(self.request.query_params["webhook"], "webhook"))
        return qs

    @extend_schema(request=None, responses={200: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path="resend", throttle_classes=LAUNCH_THROTTLES)
    def resend(self, request: Request, pk: str | None = None) -> Response:
        """Send the delivery again: the same body and idempotency key, three attempts anew."""
        delivery = webhooks.resend(self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data)


class CronJobViewSet(CrudViewSet):
    """Schedules (/schedules/v1/cron-jobs/): at each fire time of a 5-field cron expression in
    an IANA time zone, launch what run_scenarios launches; the result carries is_cronjob and
    cron_job. A fire time is skipped, with the reason in its history, when credits are short
    or the previous result is still in progress (unless allow_overlap)."""

    model = CronJob
    serializer_class = CronJobSerializer

    def perform_create(self, serializer: Any) -> None:
        job = serializer.save(organization=org_of(self.request))
        services.cron_job_schedule(job)

    def perform_update(self, serializer: Any) -> None:
        services.cron_job_schedule(serializer.save())

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], url_path="history")
    def history(self, request: Request, pk: str | None = None) -> Response:
        """The schedule's fire times, newest first: the result each launched (with its status
        and success rate) or why it launched nothing; and the pass rate over them."""
        job = self.get_object()
        firings = list(job.firings.select_related("result")[:100])
        rows = [
            {
                "fire_at": f.fire_at.isoformat(),
                "result": f.result_id,
                "status": f.result.status if f.result else None,
                "success_rate": f.result.success_rate if f.result else None,
                "skipped": f.skipped or None,
            }
            for f in firings
        ]
        return Response({"id": job.pk, "name": job.name, "firings": rows})


def share_url(request: Request, token: str) -> str:
    path = reverse("share", kwargs={"token": token})
    base = settings.PUBLIC_BASE_URL
    return f"{base.rstrip('/')}{path}" if base else request.build_absolute_uri(path)


RECORDING_MAX_SECONDS = 900.0  # scored inside the request: about 0.5 CPU s per minute


class RecordingViewSet(viewsets.ViewSet):
    """Score a recording made anywhere (your production calls, say) with the predefined
    catalogue, without placing a call."""

    @extend_schema(
        request={"multipart/form-data": RecordingScoreSerializer},
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["post"], url_path="score", throttle_classes=LAUNCH_THROTTLES)
    def score(self, request: Request) -> Response:
        """A stereo recording (caller left, agent right, up to 15 minutes and 60 MB): WAV,
        FLAC, Ogg or MP3 at 8 to 192 kHz, resampled to 16 kHz; and optionally the caller's
        authored speech as `caller_turns` (JSON `[{"start_s", "end_s"}, …]`; without it the
        caller's lines are found on its track, and a line whose background stands within
        40 dB of it has its latency not measurable). Answers the metrics in a run's shape, each
        latency turn as `{caller_end_s, agent_start_s, latency_ms, measurable, reason}`. No
        transcript is made: the metrics that read one say they were not judged."""
        incoming = RecordingScoreSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            recording = read_recording(data["recording"].read(), max_seconds=RECORDING_MAX_SECONDS)
        except RecordingError as exc:
            raise InvalidInput(str(exc)[:300], field="recording") from None
        try:
            result = score_recording(recording, data.get("caller_turns"))
        except RecordingError as exc:
            raise InvalidInput(str(exc)[:300], field="caller_turns") from None
        return Response(result)


class PredefinedMetricViewSet(viewsets.ViewSet):
    """The built-in metric catalogue (evaluators.catalogue())."""

    serializer_class = PredefinedMetricSerializer

    @extend_schema(responses={200: PredefinedMetricSerializer(many=True)})
    def list(self, request: Request) -> Response:
        return Response(
            PredefinedMetricSerializer([m.as_dict() for m in catalogue()], many=True).data
        )

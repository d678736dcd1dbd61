"""Thin viewsets: validate with an input serializer, call one service, answer with an
output serializer. Tenant scoping lives once, in OrgScopedViewSet."""
from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cekura.errors import InvalidInput
from cekura.ranged import stored_file_response
from cekura.throttling import ApiKeyThrottle, LaunchThrottle
from evaluators import PREDEFINED

from .. import selectors, services
from ..models import AIAgent, Metric, Personality, Result, Run, Scenario
from .serializers import (
    AIAgentSerializer,
    MetricSerializer,
    PersonalitySerializer,
    PredefinedMetricSerializer,
    ResultDetailSerializer,
    ResultLaunchSerializer,
    ResultListSerializer,
    RunScenariosAgoraSerializer,
    RunSerializer,
    ScenarioSerializer,
)


class OrgScopedViewSet(viewsets.GenericViewSet):
    """Every query is scoped to the API key's organization; other ids answer 404."""

    lookup_value_regex = r"\d+"
    model: type[Any]

    def get_queryset(self) -> Any:
        return self.model.objects.filter(organization=self.request.user.organization)


class CrudViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet,
):
    def perform_create(self, serializer: Any) -> None:
        # Rows always belong to the key's organization, whatever the body says.
        serializer.save(organization=self.request.user.organization)


class AIAgentViewSet(CrudViewSet):
    model = AIAgent
    serializer_class = AIAgentSerializer


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
        qs = selectors.scenario_list(organization=self.request.user.organization)
        agent = self.request.query_params.get("agent_id") or self.request.query_params.get("agent")
        if agent and agent.isdigit():
            qs = qs.filter(agent_id=int(agent))
        return qs

    @extend_schema(request=RunScenariosAgoraSerializer, responses={200: ResultLaunchSerializer})
    @action(detail=False, methods=["post"], url_path="run_scenarios_agora", throttle_classes=[ApiKeyThrottle, LaunchThrottle])
    def run_scenarios_agora(self, request: Request) -> Response:
        """Start one Agora run per scenario × frequency; answers the new result."""
        incoming = RunScenariosAgoraSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        result = services.result_launch_selected(
            organization=request.user.organization,
            agent_id=data.get("agent_id"),
            scenario_ids=data["scenarios"].get("ids"),
            first_n=data["scenarios"].get("first_n"),
            frequency=data["frequency"],
            name=data.get("name") or "",
            concurrency_limit=data.get("concurrency_limit"),
            personality_ids=data.get("personality_ids"),
        )
        result = Result.objects.prefetch_related("runs__scenario").get(pk=result.pk)
        return Response(ResultLaunchSerializer(result, context={"request": request}).data, status=status.HTTP_200_OK)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = Run
    serializer_class = RunSerializer

    def get_queryset(self) -> Any:
        return selectors.run_list(organization=self.request.user.organization)

    @extend_schema(
        parameters=[OpenApiParameter("run_ids", str, required=True, description="Comma-separated run ids, e.g. 1,2,3")],
        responses={200: RunSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        """List Runs with IDs: a bare array of the runs named by `run_ids`."""
        raw = request.query_params.get("run_ids", "")
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if not parts or not all(p.isdigit() for p in parts):
            raise InvalidInput("run_ids must be a comma-separated list of run ids, e.g. 1,2,3.", field="run_ids")
        runs = self.get_queryset().filter(pk__in=[int(p) for p in parts]).order_by("id")
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
    def recording(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The call's stereo WAV: caller on the left (testing_channel_index 0), agent on the
        right. Byte ranges are honoured."""
        run = self.get_object()
        if not run.recording:
            deleted = (run.metadata or {}).get("recording_deleted_at")
            raise Http404(f"This run's recording was deleted on {deleted[:10]} (recordings are kept {run.metadata.get('recording_retention_days')} days)." if deleted else "This run has no recording.")
        return stored_file_response(request, run.recording, "audio/wav", f"run-{run.pk}.wav")


class ResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = Result

    def get_queryset(self) -> Any:
        return selectors.result_list(organization=self.request.user.organization)

    def get_serializer_class(self) -> Any:
        return ResultDetailSerializer if self.action == "retrieve" else ResultListSerializer

    @extend_schema(request=None, responses={200: ResultDetailSerializer})
    @action(detail=True, methods=["post"], url_path="end_calls")
    def end_calls(self, request: Request, pk: str | None = None) -> Response:
        """Cancel the result's runs: those not started end now; live calls hang up within
        about a second, keeping what was recorded."""
        result = services.result_cancel(result=self.get_object())
        return Response(ResultDetailSerializer(result, context={"request": request}).data)


    @extend_schema(request=None, responses={200: ResultDetailSerializer})
    @action(detail=True, methods=["post"], url_path="evaluate_metrics")
    def evaluate_metrics(self, request: Request, pk: str | None = None) -> Response:
        """Re-score the result's completed runs from their stored recordings and transcripts
        with the current metrics and expected outcomes, without calling again."""
        result, _ = services.result_reevaluate(result=self.get_object())
        result = Result.objects.prefetch_related("runs__scenario").get(pk=result.pk)
        return Response(ResultDetailSerializer(result, context={"request": request}).data)


class PredefinedMetricViewSet(viewsets.ViewSet):
    """The built-in metric catalogue (evaluators.PREDEFINED)."""

    serializer_class = PredefinedMetricSerializer

    @extend_schema(responses={200: PredefinedMetricSerializer(many=True)})
    def list(self, request: Request) -> Response:
        return Response(PredefinedMetricSerializer([m.as_dict() for m in PREDEFINED], many=True).data)

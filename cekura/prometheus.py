"""`/metrics` for Prometheus. Every figure is read from the database and the broker at scrape
time, so it is the same whichever web process answers and whatever worker did the work:

- `cekura_runs{status}`: runs by status (gauge);
- `cekura_results{status}`: results by status (gauge);
- `cekura_call_duration_seconds`: durations of calls that happened (histogram);
- `cekura_queue_depth{queue}`: messages waiting in the calls and post-processing queues;
- `cekura_asr_real_time_factor`: transcription time / call time over the last 1000
  post-processed runs (histogram; below 1 is faster than real time);
- `cekura_runs_stale`: runs in a call or evaluating whose heartbeat is older than the reaper's
  limit (the reaper should bring it back to 0).

Set CEKURA_METRICS_TOKEN to require `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1800)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


def _histogram(
    name: str, doc: str, values: list[float], buckets: tuple[float, ...]
) -> HistogramMetricFamily:
    counts = [(str(float(b)), sum(1 for v in values if v <= b)) for b in buckets]
    counts.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, doc, buckets=counts, sum_value=float(sum(values)))


class DatabaseCollector:
    def collect(self) -> Iterator[Metric]:
        from test_framework.choices import Status
        from test_framework.models import Result, Run

        runs = GaugeMetricFamily("cekura_runs", "Runs by status.", labels=["status"])
        by_status = dict(Run.objects.values_list("status").annotate(n=Count("id")))
        for status in (s for s in Status.values if s != Status.IN_PROGRESS):
            runs.add_metric([status], by_status.get(status, 0))
        yield runs
        results = GaugeMetricFamily("cekura_results", "Results by status.", labels=["status"])
        by_status = dict(Result.objects.values_list("status").annotate(n=Count("id")))
        for status in Status.values:
            results.add_metric([status], by_status.get(status, 0))
        yield results
        # Histogram buckets counted by the database: one query, whatever the table's size.
        agg = Run.objects.filter(duration_seconds__isnull=False).aggregate(
            **{f"le{b}": Count("id", filter=Q(duration_seconds__lte=b)) for b in DURATION_BUCKETS},
            total=Count("id"),
            seconds=Sum("duration_seconds"),
        )
        buckets = [(str(float(b)), agg[f"le{b}"]) for b in DURATION_BUCKETS] + [
            ("+Inf", agg["total"])
        ]
        yield HistogramMetricFamily(
            "cekura_call_duration_seconds",
            "Duration of calls that happened.",
            buckets=buckets,
            sum_value=float(agg["seconds"] or 0.0),
        )
        recent = (
            Run.objects.filter(metadata__has_key="asr_real_time_factor")
            .order_by("-id")
            .values_list("metadata__asr_real_time_factor", flat=True)[:1000]
        )
        yield _histogram(
            "cekura_asr_real_time_factor",
            "ASR time / call time, last 1000 post-processed runs.",
            [float(v) for v in recent if v is not None],
            RTF_BUCKETS,
        )
        cutoff = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS)
        stale = Run.objects.filter(
            status__in=[Status.RUNNING, Status.EVALUATING], heartbeat_at__lt=cutoff
        ).count()
        g = GaugeMetricFamily(
            "cekura_runs_stale", "Runs whose worker has not reported within the reaper's limit."
        )
        g.add_metric([], stale)
        yield g


class BrokerCollector:
    def collect(self) -> Iterator[Metric]:
        from cekura.queues import queue_depth

        g = GaugeMetricFamily(
            "cekura_queue_depth",
            "Messages waiting in a queue (-1: the broker did not answer).",
            labels=["queue"],
        )
        for name in (settings.CELERY_CALLS_QUEUE, settings.CELERY_POST_QUEUE):
            depth = queue_depth(name)
            g.add_metric([name], -1 if depth is None else depth)
        yield g


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text. With CEKURA_METRICS_TOKEN set, a scrape needs it as a bearer token; in
    production without one, only a signed-in staff user may read (unless opened with
    CEKURA_METRICS_PUBLIC)."""
    token = settings.METRICS_TOKEN
    staff = bool(getattr(request.user, "is_staff", False))
    if token and not staff:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse(
                "metrics need Authorization: Bearer <CEKURA_METRICS_TOKEN>\n",
                status=401,
                content_type="text/plain",
            )
    elif not token and not staff and not settings.METRICS_PUBLIC:
        return HttpResponse(
            "metrics need a staff user's session, or set CEKURA_METRICS_TOKEN and scrape with "
            "Authorization: Bearer <token>\n",
            status=401,
            content_type="text/plain",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    registry.register(BrokerCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

"""Every resource answers under /test_framework/v1/<res>/, /v1/<res>-external/ and
/v2/<res>/, with and without the trailing slash (a POST is never redirected)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework import viewsets
from rest_framework.routers import SimpleRouter

from . import views

RESOURCES: list[tuple[str, type[viewsets.ViewSetMixin]]] = [
    ("aiagents", views.AIAgentViewSet),
    ("scenarios", views.ScenarioViewSet),
    ("runs", views.RunViewSet),
    ("results", views.ResultViewSet),
    ("metrics", views.MetricViewSet),
    ("personalities", views.PersonalityViewSet),
    ("predefined-metrics", views.PredefinedMetricViewSet),
    ("share-links", views.ShareLinkViewSet),
    ("recordings", views.RecordingViewSet),
    ("webhooks", views.WebhookViewSet),
    ("webhook-deliveries", views.WebhookDeliveryViewSet),
]


class OptionalSlashRouter(SimpleRouter):
    def __init__(self) -> None:
        super().__init__()
        # SimpleRouter turns any truthy trailing_slash into "/"; set the pattern directly.
        self.trailing_slash = "/?"


def _router(suffix: str, name_suffix: str) -> SimpleRouter:
    router = OptionalSlashRouter()
    for name, viewset in RESOURCES:
        # The plain v1 routes keep the bare basename ("run", …) so reverse() has one target.
        basename = {
            "predefined-metrics": "predefined-metric",
            "personalities": "personality",
            "share-links": "share-link",
            "recordings": "recording",
            "webhook-deliveries": "webhook-delivery",
        }.get(name, name.rstrip("s"))
        router.register(f"{name}{suffix}", viewset, basename=basename + name_suffix)
    return router


urlpatterns = [
    path("v1/", include(_router("", "").urls)),
    path("v1/", include(_router("-external", "-external").urls)),
    path("v2/", include(_router("", "-v2").urls)),
]


# Schedules answer where the hosted product has them: /schedules/v1/cron-jobs/.
schedule_router = OptionalSlashRouter()
schedule_router.register("cron-jobs", views.CronJobViewSet, basename="cron-job")
schedule_urlpatterns = [path("v1/", include(schedule_router.urls))]

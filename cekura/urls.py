from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from cekura import converters  # noqa: F401 - registers <id:…>
from cekura.health import healthz
from cekura.prometheus import metrics_view
from cekura.views import DocsView, SchemaView, api_not_found
from test_framework.api.urls import schedule_urlpatterns
from test_framework.dashboard import share

urlpatterns = [
    path("admin/", admin.site.urls),
    path("test_framework/", include("test_framework.api.urls")),
    # Any other path under the API answers a short JSON 404, never an HTML page (CI clients
    # paste error bodies into their summaries), whatever DEBUG says.
    re_path(r"^test_framework/", api_not_found),
    path("schedules/", include(schedule_urlpatterns)),
    re_path(r"^schedules/v[0-9]+/", api_not_found),  # /schedules/ itself: the dashboard
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/", api_not_found),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("share/<str:token>/", share.share_page, name="share"),
    path(
        "share/<str:token>/runs/<id:run_id>/recording.wav",
        share.share_recording,
        name="share-recording",
    ),
    path("", include("test_framework.dashboard.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()

# The product's own error pages (cekura.errorpages), never Django's debug pages.
handler400 = "cekura.errorpages.bad_request"
handler403 = "cekura.errorpages.permission_denied"
handler404 = "cekura.errorpages.page_not_found"
handler500 = "cekura.errorpages.server_error"

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from cekura import converters  # noqa: F401 - registers <id:…>

from . import automation, catalog, manage, views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    path("agents/", views.agents, name="agents"),
    path("agents/new/", views.agent_new, name="agent_new"),
    path("agents/new/agora/", views.agent_edit, name="agent_new_agora"),
    path("agents/new/agora/test/", views.agent_test, name="agent_new_test"),
    path("agents/<id:pk>/", views.agent_edit, name="agent"),
    path("agents/<id:pk>/test/", views.agent_test, name="agent_test"),
    path("agents/<id:pk>/trends/", views.agent_trends, name="agent_trends"),
    path("agents/<id:pk>/delete/", manage.agent_delete, name="agent_delete"),
    path("agents/<id:pk>/duplicate/", manage.agent_duplicate, name="agent_duplicate"),
    path("keys/", views.keys, name="keys"),
    path("credits/", views.credits_page, name="credits"),
    path("keys/<id:pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("scenarios/", views.scenarios, name="scenarios"),
    path("scenarios/new/", views.scenario_edit, name="scenario_new"),
    path("scenarios/<id:pk>/", views.scenario_edit, name="scenario"),
    path("scenarios/<id:pk>/delete/", manage.scenario_delete, name="scenario_delete"),
    path("scenarios/<id:pk>/duplicate/", manage.scenario_duplicate, name="scenario_duplicate"),
    path("scenarios/run/", views.scenarios_run, name="scenarios_run"),
    path("scenarios/power.json", views.power_estimate, name="power_estimate"),
    path("personalities/", catalog.personalities, name="personalities"),
    path("personalities/new/", catalog.personality_edit, name="personality_new"),
    path("personalities/<id:pk>/", catalog.personality_edit, name="personality"),
    path("metrics/", catalog.metrics_page, name="metrics"),
    path("metrics/new/", catalog.metric_edit, name="metric_new"),
    path("metrics/<id:pk>/", catalog.metric_edit, name="metric"),
    path("results/", views.results, name="results"),
    path("results/progress.json", views.results_progress, name="results_progress"),
    path("results/compare/", views.results_compare, name="results_compare"),
    path("results/<id:pk>/", views.result_detail, name="result"),
    path("results/<id:pk>/end/", views.result_end, name="result_end"),
    path("results/<id:pk>/runs.json", views.result_runs, name="result_runs"),
    path("results/<id:pk>/rescore/", manage.result_rescore, name="result_rescore"),
    path("results/<id:pk>/rerun/", manage.result_rerun, name="result_rerun"),
    path("results/<id:pk>/export.json", manage.result_export, {"fmt": "json"}, name="result_json"),
    path("results/<id:pk>/export.csv", manage.result_export, {"fmt": "csv"}, name="result_csv"),
    path("schedules/", automation.schedules_page, name="schedules"),
    path("schedules/<id:pk>/", automation.schedule_detail, name="schedule"),
    path("schedules/<id:pk>/toggle/", automation.schedule_toggle, name="schedule_toggle"),
    path("webhooks/", automation.webhooks_page, name="webhooks"),
    path("webhooks/deliveries/<id:pk>/resend/", automation.webhook_resend, name="webhook_resend"),
    path("runs/", views.runs_page, name="runs"),
    path("runs/<id:pk>/", views.run_detail, name="run"),
    path("runs/<id:pk>/end/", views.run_end, name="run_end"),
    path("runs/<id:pk>/status.json", views.run_status, name="run_status"),
    path("runs/<id:pk>/recording.wav", views.run_recording, name="run_recording"),
    path("runs/<id:pk>/waveform.json", views.run_waveform, name="run_waveform"),
]

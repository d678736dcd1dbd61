from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from .models import AIAgent, Metric, Personality, Result, Run, Scenario


class AIAgentAdminForm(forms.ModelForm):
    # Write-only: the stored secret is never rendered; typing a value replaces it.
    agora_api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Agora secret",
        help_text="Write-only. Leave empty to keep the stored secret.",
    )

    class Meta:
        model = AIAgent
        fields = "__all__"

    def clean_agora_api_key(self) -> str:
        value = self.cleaned_data.get("agora_api_key") or ""
        if not value and self.instance.pk:
            return self.instance.agora_api_key
        return value


@admin.register(AIAgent)
class AIAgentAdmin(admin.ModelAdmin):
    form = AIAgentAdminForm
    list_display = (
        "agent_name",
        "organization",
        "assistant_provider",
        "secret_status",
        "created_at",
    )
    list_filter = ("organization", "assistant_provider")
    search_fields = ("agent_name",)

    @admin.display(description="Agora secret")
    def secret_status(self, obj: AIAgent) -> str:
        return "set" if obj.agora_api_key_configured else "unset"


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ("name", "agent", "scenario_type", "organization", "updated_at")
    list_filter = ("organization", "scenario_type")
    search_fields = ("name",)


@admin.register(Personality)
class PersonalityAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "organization",
        "speed",
        "interruption_level",
        "background_noise",
        "backchannels",
    )


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ("name", "eval_type", "type", "organization")


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "agent", "status", "success_rate", "created_at")
    list_filter = ("status", "organization")
    list_select_related = ("agent",)
    raw_id_fields = ("organization", "agent")
    # A result's runs are listed on the runs page, paginated (a result may hold a thousand):
    # here, their counts and a link.
    readonly_fields = ("runs_listed",)

    @admin.display(description="Runs")
    def runs_listed(self, obj: Result) -> str:
        if obj.pk is None:
            return "-"
        counts = dict(
            obj.runs.values_list("status").annotate(n=Count("id")).values_list("status", "n")
        )
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
        url = reverse("admin:test_framework_run_changelist") + f"?result__id__exact={obj.pk}"
        return format_html('{} — <a href="{}">list them</a>', summary, url)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "result",
        "scenario",
        "status",
        "success",
        "duration_seconds",
        "executed_at",
    )
    list_filter = ("status", "organization")
    list_select_related = ("result", "scenario")
    raw_id_fields = ("organization", "result", "scenario", "agent", "personality")
    readonly_fields = ("evaluation", "expected_outcome", "transcript_object", "metadata")
    show_full_result_count = False  # no COUNT(*) over every run on each page

    def has_add_permission(self, request: Any) -> bool:
        return False

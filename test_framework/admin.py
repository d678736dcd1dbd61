from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

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
    list_display = ("agent_name", "organization", "assistant_provider", "secret_status", "created_at")
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
    list_display = ("name", "organization", "speed", "interruption_level", "background_noise", "backchannels")


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ("name", "eval_type", "type", "organization")


class RunInline(admin.TabularInline):
    model = Run
    fields = ("id", "scenario", "status", "success", "duration_seconds", "error_message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "agent", "status", "success_rate", "created_at")
    list_filter = ("status", "organization")
    inlines = [RunInline]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "result", "scenario", "status", "success", "duration_seconds", "executed_at")
    list_filter = ("status", "organization")
    readonly_fields = ("evaluation", "expected_outcome", "transcript_object", "metadata")

    def has_add_permission(self, request: Any) -> bool:
        return False

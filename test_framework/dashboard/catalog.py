"""Personalities (how the simulated caller behaves) and custom metrics (what a call is judged
on), created and edited in the dashboard and attached to agents and scenarios. Saved through
the API's serializers, so the rules and messages are the API's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from common.vocabulary import Role

from ..api.serializers import MetricSerializer, PersonalitySerializer
from ..choices import EvalType, MetricType
from ..models import AIAgent, Metric, Personality, Scenario
from .views import api_context, form_errors, org_of, org_required


class PersonalityForm(forms.Form):
    name = forms.CharField(max_length=100)
    prompt = forms.CharField(
        label="How the caller behaves",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="In plain words, e.g. “In a hurry; answers in few words.”",
    )
    speed = forms.FloatField(
        label="Speaking speed", min_value=0.5, max_value=2.0, initial=1.0, help_text="0.5–2.0"
    )
    interruption_level = forms.ChoiceField(
        label="Interrupts the agent",
        choices=[("none", "never"), ("low", "rarely"), ("medium", "sometimes"), ("high", "often")],
    )
    background_noise = forms.ChoiceField(
        choices=[
            ("none", "none"),
            ("white", "white noise"),
            ("office", "office"),
            ("street", "street"),
            ("cafe", "café"),
        ]
    )
    background_noise_snr_db = forms.FloatField(
        label="Noise level (SNR, dB)",
        min_value=0,
        max_value=60,
        initial=20.0,
        help_text="Lower is louder noise: 20 dB is a quiet room, 5 dB a busy street.",
    )
    backchannels = forms.BooleanField(label="Says “mm-hmm” while the agent talks", required=False)

    def api_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


RULE_SPEAKERS = [(Role.MAIN_AGENT.value, "the agent"), (Role.TESTING_AGENT.value, "the caller")]


class MetricForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    type = forms.ChoiceField(
        label="How it is judged",
        choices=[
            (MetricType.LLM_JUDGE, "An LLM judge answers a question about the call"),
            (MetricType.CUSTOM_CODE, "A rule: words or patterns someone says (or does not)"),
        ],
    )
    eval_type = forms.ChoiceField(
        label="Answer",
        choices=[(EvalType.BINARY, "pass / fail"), (EvalType.NUMERIC, "a number")],
    )
    prompt = forms.CharField(
        label="Question for the judge",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For an LLM judge, e.g. “Did the agent confirm the booking date?”",
    )
    rule_match = forms.ChoiceField(
        label="Rule matches",
        required=False,
        choices=[("keyword", "words or phrases"), ("regex", "regular expressions")],
    )
    rule_patterns = forms.CharField(
        label="Words or patterns, one per line",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    rule_speaker = forms.ChoiceField(label="Said by", required=False, choices=RULE_SPEAKERS)
    rule_expect = forms.ChoiceField(
        label="Passes when they are",
        required=False,
        choices=[("present", "said"), ("absent", "never said")],
    )
    agents = forms.MultipleChoiceField(
        label="Judge every call of these agents",
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
    )
    scenarios = forms.MultipleChoiceField(
        label="…and every call of these scenarios",
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(
        self,
        *args: Any,
        agents: list[tuple[int, str]],
        scenarios: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agents"].choices = [(str(k), v) for k, v in agents]  # type: ignore[attr-defined]
        self.fields["scenarios"].choices = [(str(k), v) for k, v in scenarios]  # type: ignore[attr-defined]

    def api_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        data: dict[str, Any] = {
            "name": d["name"],
            "description": d.get("description") or "",
            "type": d["type"],
            "eval_type": d["eval_type"],
            "prompt": d.get("prompt") or "",
            "agents": [int(a) for a in d.get("agents") or []],
        }
        if d["type"] == MetricType.CUSTOM_CODE:
            patterns = [p.strip() for p in (d.get("rule_patterns") or "").splitlines() if p.strip()]
            data["configuration"] = {
                "rule": {
                    "match": d.get("rule_match") or "keyword",
                    "patterns": patterns,
                    "speaker": d.get("rule_speaker") or Role.MAIN_AGENT.value,
                    "expect": d.get("rule_expect") or "present",
                }
            }
        return data


def _metric_initial(metric: Metric) -> dict[str, Any]:
    rule = (metric.configuration or {}).get("rule") or {}
    return {
        "name": metric.name,
        "description": metric.description,
        "type": metric.type,
        "eval_type": metric.eval_type,
        "prompt": metric.prompt,
        "rule_match": rule.get("match", "keyword"),
        "rule_patterns": "\n".join(str(p) for p in rule.get("patterns") or []),
        "rule_speaker": rule.get("speaker", Role.MAIN_AGENT.value),
        "rule_expect": rule.get("expect", "present"),
        "agents": [str(a.pk) for a in metric.agents.all()],
        "scenarios": [str(s.pk) for s in metric.scenarios.all()],
    }


# --- personalities ------------------------------------------------------------------------
@org_required
def personalities(request: HttpRequest) -> HttpResponse:
    rows = Personality.objects.filter(organization=org_of(request)).order_by("name")
    return render(request, "dashboard/personalities.html", {"nav": "personalities", "rows": rows})


@org_required
def personality_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    org = org_of(request)
    item = get_object_or_404(Personality, organization=org, pk=pk) if pk else None
    if request.method == "POST":
        form = PersonalityForm(request.POST)
        if form.is_valid():
            serializer = PersonalitySerializer(
                item, data=form.api_data(), partial=item is not None, context=api_context(request)
            )
            if serializer.is_valid():
                saved = serializer.save(**({} if item else {"organization": org}))
                messages.success(request, f"Personality “{saved.name}” saved.")
                return redirect("dashboard:personalities")
            form_errors(form, serializer.errors)
    else:
        initial = None
        if item is not None:
            initial = {f: getattr(item, f) for f in PersonalityForm.base_fields}
        form = PersonalityForm(initial=initial)
    return render(
        request,
        "dashboard/catalog_form.html",
        {"nav": "personalities", "form": form, "item": item, "kind": "personality"},
    )


# --- custom metrics -----------------------------------------------------------------------
@org_required
def metrics_page(request: HttpRequest) -> HttpResponse:
    rows = (
        Metric.objects.filter(organization=org_of(request))
        .prefetch_related("agents", "scenarios")
        .order_by("name")
    )
    return render(request, "dashboard/metrics.html", {"nav": "metrics", "rows": rows})


@org_required
def metric_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    org = org_of(request)
    item = get_object_or_404(Metric, organization=org, pk=pk) if pk else None
    agents = [
        (a.pk, a.agent_name)
        for a in AIAgent.objects.filter(organization=org, archived_at__isnull=True)
    ]
    scenarios = [
        (s.pk, f"{s.name} ({s.agent.agent_name})")
        for s in Scenario.objects.filter(organization=org, archived_at__isnull=True).select_related(
            "agent"
        )
    ]
    if request.method == "POST":
        form = MetricForm(request.POST, agents=agents, scenarios=scenarios)
        if form.is_valid():
            serializer = MetricSerializer(
                item, data=form.api_data(), partial=item is not None, context=api_context(request)
            )
            if serializer.is_valid():
                saved = serializer.save(**({} if item else {"organization": org}))
                saved.scenarios.set(
                    Scenario.objects.filter(
                        organization=org, pk__in=[int(s) for s in form.cleaned_data["scenarios"]]
                    )
                )
                messages.success(request, f"Metric “{saved.name}” saved.")
                return redirect("dashboard:metrics")
            form_errors(
                form, serializer.errors, {"configuration": "rule_patterns", "rule": "rule_patterns"}
            )
    else:
        form = MetricForm(
            initial=_metric_initial(item) if item else None, agents=agents, scenarios=scenarios
        )
    return render(
        request,
        "dashboard/catalog_form.html",
        {"nav": "metrics", "form": form, "item": item, "kind": "metric"},
    )

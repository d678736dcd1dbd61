"""Dashboard forms. They only shape the page's fields into the API's input; validation and
saving are the API serializers' and the services' (no rule lives twice)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from common.vocabulary import DEFAULT_SECRET_HEADER

from .. import limits
from ..choices import ScenarioType


class AgoraAgentForm(forms.Form):
    agent_name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    session_endpoint_url = forms.CharField(
        label="Session Endpoint URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://agent.example.com/session"}),
    )
    client_id = forms.CharField(label="Client ID", max_length=500)
    secret = forms.CharField(
        label="Secret",
        required=False,
        max_length=4000,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored secret.",
    )
    request_method = forms.ChoiceField(
        label="Request Method", choices=[("POST", "POST"), ("GET", "GET")], initial="POST"
    )
    auth_header_name = forms.CharField(
        label="Secret Header Name", max_length=200, initial=DEFAULT_SECRET_HEADER
    )
    join_uid = forms.IntegerField(label="Join UID", initial=1, min_value=1)
    agent_gives_first_message = forms.BooleanField(
        label="The agent speaks first", required=False, initial=True
    )

    def api_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        data: dict[str, Any] = {
            "agent_name": d["agent_name"],
            "description": d.get("description") or "",
            "inbound": True,
            "assistant_provider": "agora",
            "agent_gives_first_message": bool(d.get("agent_gives_first_message")),
            "agora_data": {
                "session_endpoint_url": d["session_endpoint_url"],
                "client_id": d["client_id"],
                "request_method": d["request_method"],
                "auth_header_name": d["auth_header_name"],
                "join_uid": d["join_uid"],
            },
        }
        if d.get("secret"):
            data["agora_api_key"] = d["secret"]
        return data


class ScenarioForm(forms.Form):
    name = forms.CharField(max_length=80)
    agent = forms.TypedChoiceField(coerce=int)
    scenario_type = forms.ChoiceField(
        label="Type",
        choices=[
            (ScenarioType.INSTRUCTION, "Instructions: the caller improvises from them"),
            (ScenarioType.CONDITIONAL_ACTIONS, "Scripted steps: the caller says set lines"),
        ],
        initial=ScenarioType.INSTRUCTION,
    )
    first_message = forms.CharField(initial="Hello", max_length=limits.LINE)
    instructions = forms.CharField(
        required=False,
        max_length=limits.TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For instruction scenarios: what the caller wants, in plain words.",
    )
    expected_outcome_prompt = forms.CharField(
        label="Expected outcome",
        required=False,
        max_length=limits.TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    max_duration = forms.IntegerField(
        label="Max duration (s)", required=False, min_value=10, max_value=3600
    )

    def __init__(self, *args: Any, agents: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["agent"]).choices = agents

    def clean(self) -> dict[str, Any]:
        """The steps of a scripted scenario come as two lists, `step_when` and `step_say` (one
        pair per row of the editor); an instruction scenario needs its instructions."""
        d = super().clean() or {}
        whens = self.data.getlist("step_when") if hasattr(self.data, "getlist") else []
        says = self.data.getlist("step_say") if hasattr(self.data, "getlist") else []
        steps: list[tuple[str, str]] = []
        for i in range(max(len(whens), len(says))):
            when = (whens[i] if i < len(whens) else "").strip()
            say = (says[i] if i < len(says) else "").strip()
            if not when and not say:
                continue  # an empty row of the editor
            if not say:
                self.add_error(None, f"Step {len(steps) + 1}: what should the caller say?")
            if len(say) > limits.LINE or len(when) > limits.TEXT:
                self.add_error(None, f"Step {len(steps) + 1} is too long.")
            steps.append((when, say))
        d["steps"] = steps
        kind = d.get("scenario_type")
        if kind == ScenarioType.CONDITIONAL_ACTIONS and not steps:
            self.add_error(
                None, "A scripted scenario needs at least one step: what to say, and when."
            )
        if kind == ScenarioType.INSTRUCTION and not (d.get("instructions") or "").strip():
            self.add_error(
                "instructions", "Say what the caller wants: the caller improvises from this."
            )
        return d

    def api_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        data: dict[str, Any] = {
            "name": d["name"],
            "agent": d["agent"],
            "scenario_type": d["scenario_type"],
            "first_message": d["first_message"],
            "instructions": d.get("instructions") or "",
            "expected_outcome_prompt": d.get("expected_outcome_prompt") or "",
            "max_duration": d.get("max_duration"),
        }
        if d["scenario_type"] == ScenarioType.CONDITIONAL_ACTIONS:
            data["conditional_actions"] = {
                "role": "",
                "conditions": [
                    {"id": i, "condition": when, "action": say, "fixed_message": True}
                    for i, (when, say) in enumerate(d["steps"], start=1)
                ],
            }
        return data

    @staticmethod
    def steps_of(conditional_actions: dict[str, Any] | None) -> list[tuple[str, str]]:
        """A stored scenario's steps as the editor's rows: (when the agent …, the caller says)."""
        return [
            (str(c.get("condition") or ""), str(c.get("action") or ""))
            for c in (conditional_actions or {}).get("conditions", [])
            if isinstance(c, dict)
        ]


class RunForm(forms.Form):
    scenario_ids = forms.CharField()
    name = forms.CharField(required=False, max_length=200)
    frequency = forms.IntegerField(min_value=1, max_value=100, initial=1)
    concurrency_limit = forms.IntegerField(required=False, min_value=1)
    personality_ids = forms.MultipleChoiceField(required=False, choices=[])

    def __init__(
        self, *args: Any, personalities: list[tuple[int, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["personality_ids"]).choices = [
            (str(k), v) for k, v in personalities or []
        ]

    def clean_scenario_ids(self) -> list[int]:
        raw = [p for p in self.cleaned_data["scenario_ids"].split(",") if p.strip()]
        if not raw or not all(p.strip().isdigit() for p in raw):
            raise forms.ValidationError("Select at least one scenario.")
        return [int(p) for p in raw]

"""The bodies of webhook deliveries, in the hosted product's shapes (spec/hosted-clients.md).
Made by the delivery task, at a delivery's first attempt (test_framework.webhooks.deliver)."""

from __future__ import annotations

from typing import Any

from .api.serializers import ResultRunSerializer, RunSerializer
from .models import Result, Run
from .webhooks import RESULT_COMPLETED, RESULT_PRE_TRIGGER, RUN_COMPLETED


def payload_for(event: str, subject_id: int) -> dict[str, Any]:
    if event in (RESULT_COMPLETED, RESULT_PRE_TRIGGER):
        return result_payload(Result.objects.get(pk=subject_id), event)
    if event == RUN_COMPLETED:
        return run_payload(Run.objects.select_related("scenario").get(pk=subject_id))
    raise ValueError(f"no payload for event {event!r}")


def result_payload(result: Result, event: str = RESULT_COMPLETED) -> dict[str, Any]:
    """`result.completed` (or `result.pre_trigger`, before any call) as the hosted product
    sends it (spec/hosted-clients.md)."""
    runs = result.runs.select_related("scenario", "personality").order_by("id")
    by_number = {}
    for n, run in enumerate(runs, 1):
        data = ResultRunSerializer(run).data
        by_number[str(n)] = {
            key: data.get(key)
            for key in (
                "id",
                "scenario",
                "expected_outcome",
                "success",
                "evaluation",
                "transcript_object",
                "voice_recording",
                "timestamp",
                "executed_at",
                "error_message",
            )
        }
    return {
        "event_type": event,
        "data": {
            "id": result.pk,
            "name": result.name,
            "agent": result.agent_id,
            "status": result.status,
            "success_rate": result.success_rate,
            "run_as_text": result.run_as_text,
            "is_cronjob": result.is_cronjob,
            "runs": by_number,
            "created_at": result.created_at.isoformat(),
        },
    }


def run_payload(run: Run) -> dict[str, Any]:
    return {"event_type": RUN_COMPLETED, "data": dict(RunSerializer(run).data)}

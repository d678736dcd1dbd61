"""Metrics computed from a finished call. Plain Python: no Django import."""

from .base import CallData, MetricResult
from .catalogue import evaluate_call
from .registry import catalogue
from .score import RecordingError, read_recording, score_recording

__all__ = [
    "CallData",
    "MetricResult",
    "RecordingError",
    "catalogue",
    "evaluate_call",
    "read_recording",
    "score_recording",
]

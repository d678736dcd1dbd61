"""Metrics computed from a finished call. Plain Python: no Django import."""

from .base import CallData, MetricResult
from .catalogue import PREDEFINED, evaluate_call
from .score import RecordingError, read_recording, score_recording

__all__ = [
    "CallData",
    "MetricResult",
    "PREDEFINED",
    "RecordingError",
    "evaluate_call",
    "read_recording",
    "score_recording",
]

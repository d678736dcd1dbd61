"""Metrics computed from a finished call. Plain Python: no Django import."""
from .base import CallData, MetricResult
from .catalogue import PREDEFINED, evaluate_call

__all__ = ["CallData", "MetricResult", "PREDEFINED", "evaluate_call"]

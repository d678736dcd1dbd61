"""The predefined metrics, each declared once where it is computed.

A metric module in `evaluators/metrics/` declares its metrics with `@predefined(...)`: the id
the API shows, the name, the type, a description and unit. `catalogue()` is every declared
metric in id order: the list the API's `predefined-metrics/` serves and the metrics every run
is scored with. Adding a metric is adding a function (or a file) there; nothing else lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from common.llm import LLMConfig

from .base import CallData, MetricResult

EVAL_TYPES = ("binary", "numeric", "enum", "continuous_qualitative")


class Metric(Protocol):
    """What the catalogue knows of a metric, and how to compute it on a call."""

    id: int
    name: str
    eval_type: str
    description: str

    def evaluate(self, call: CallData, llm: LLMConfig | None = None) -> MetricResult: ...


@dataclass(frozen=True)
class Predefined:
    id: int
    name: str
    eval_type: str
    description: str
    unit: str
    compute: Callable[..., MetricResult]
    uses_llm: bool = False

    def evaluate(self, call: CallData, llm: LLMConfig | None = None) -> MetricResult:
        if self.uses_llm:
            return self.compute(call, self.id, llm)
        return self.compute(call, self.id)

    def as_dict(self) -> dict[str, Any]:
        """As the API's predefined-metrics/ lists it."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "eval_type": self.eval_type,
            "enum_values": [],
            "type": "custom_code",
            "prompt": "",
            "configuration": {"unit": self.unit} if self.unit else {},
            "agents": [],
        }


_declared: dict[int, Predefined] = {}

Compute = Callable[..., MetricResult]


def predefined(
    id: int,
    name: str,
    eval_type: str,
    description: str,
    *,
    unit: str = "",
    uses_llm: bool = False,
) -> Callable[[Compute], Compute]:
    """Declare the decorated function a predefined metric. It is called as `f(call, id)`, or
    `f(call, id, llm)` when it `uses_llm`, and returns the metric's MetricResult."""
    if eval_type not in EVAL_TYPES:
        raise ValueError(f"metric {name!r}: eval_type must be one of {EVAL_TYPES}")

    def declare(compute: Compute) -> Compute:
        for other in _declared.values():
            if other.compute is compute:
                return compute  # a module imported again under another name
            if other.id == id or other.name == name:
                raise ValueError(f"metric {id} {name!r} clashes with {other.id} {other.name!r}")
        _declared[id] = Predefined(id, name, eval_type, description, unit, compute, uses_llm)
        return compute

    return declare


@cache
def catalogue() -> tuple[Predefined, ...]:
    """Every predefined metric, in id order (the modules of evaluators.metrics imported)."""
    from . import metrics

    for module in pkgutil.iter_modules(metrics.__path__):
        importlib.import_module(f"{metrics.__name__}.{module.name}")
    return tuple(sorted(_declared.values(), key=lambda m: m.id))

"""A call's conversation metrics at a glance, for the call page and dashboards. No Django here.

Each metric operator (analytics/rules/metrics.py) reports its measured numbers whether or not it
matched; running each once with its default thresholds gives the call's summary.
"""

from __future__ import annotations

from typing import Any

from analytics.rules.metrics import evaluate_metric
from analytics.rules.types import Call

# name → operator spec; the thresholds only decide "matched", the values are measured regardless.
_SUMMARY: dict[str, dict[str, Any]] = {
    "duration": {"type": "duration", "min_s": 0},
    "silence": {"type": "silence"},
    "interruption": {"type": "interruption"},
    "agent_rate": {"type": "speech_rate", "role": "agent"},
    "customer_rate": {"type": "speech_rate", "role": "customer"},
    "talk_ratio": {"type": "talk_ratio", "role": "agent", "min": 0},
    "latency": {"type": "latency"},
    "repetition": {"type": "repetition"},
}


def call_metrics(call: Call) -> dict[str, dict[str, float]]:
    """Metric name → its measured values, e.g. ``{"silence": {"max_gap_ms": 12400.0, ...}}``."""
    return {name: dict(evaluate_metric(spec, call).values) for name, spec in _SUMMARY.items()}

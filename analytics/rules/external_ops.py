"""Bridge to the metric and sentiment operators, which live in metrics.py and sentiment.py.

Those modules are written separately; until they exist, rules using their operator types are
rejected at validation with a message that says which module is missing. A module that exists
but fails to import raises: a broken plugin must not look like a missing one.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from analytics.rules.types import Call, OperatorResult
from qa_i18n import msg

METRIC_TYPE_NAMES = frozenset(
    {"silence", "interruption", "speech_rate", "duration", "talk_ratio", "latency", "repetition"}
)
SENTIMENT_TYPE = "sentiment"
EXTERNAL_TYPES = METRIC_TYPE_NAMES | {SENTIMENT_TYPE}

_loaded: dict[str, ModuleType | None] = {}


def _module(name: str) -> ModuleType | None:
    if name not in _loaded:
        full = f"analytics.rules.{name}"
        _loaded[name] = (
            importlib.import_module(full) if importlib.util.find_spec(full) is not None else None
        )
    return _loaded[name]


def metrics_module() -> ModuleType | None:
    return _module("metrics")


def sentiment_module() -> ModuleType | None:
    return _module("sentiment")


def known_types() -> frozenset[str]:
    metrics = metrics_module()
    extra: frozenset[str] = frozenset(metrics.METRIC_TYPES) if metrics is not None else frozenset()
    return EXTERNAL_TYPES | extra


def available_types() -> frozenset[str]:
    """Types that can actually be evaluated in this process."""
    metrics, sentiment = metrics_module(), sentiment_module()
    out: set[str] = set(metrics.METRIC_TYPES) if metrics is not None else set()
    if sentiment is not None:
        out.add(SENTIMENT_TYPE)
    return frozenset(out)


def validate(kind: str, raw: Mapping[str, Any]) -> list[str]:
    if kind == SENTIMENT_TYPE:
        sentiment = sentiment_module()
        if sentiment is None:
            return [msg("算子类型 sentiment 需要 analytics/rules/sentiment.py，当前不可用")]
        return list(sentiment.validate_sentiment(dict(raw)))
    metrics = metrics_module()
    if metrics is None or kind not in metrics.METRIC_TYPES:
        return [msg("算子类型 {kind} 需要 analytics/rules/metrics.py 提供，当前不可用", kind=kind)]
    return list(metrics.validate_metric(dict(raw)))


def call_sentiment(call: Call) -> Any:
    """What the engine hands every sentiment operator of a call: the module's lazy view when it
    has one (segments scored as operators need them), else the whole call's sentiment."""
    sentiment = sentiment_module()
    assert sentiment is not None  # validation rejected sentiment operators without the module
    lazy = getattr(sentiment, "lazy_call_sentiment", None)
    return lazy(call) if lazy is not None else sentiment.call_sentiment(call)


def evaluate(
    kind: str, raw: Mapping[str, Any], call: Call, sentiment_of: Callable[[], Any]
) -> OperatorResult:
    """`sentiment_of` returns the call's sentiment, computed once per call by the engine."""
    if kind == SENTIMENT_TYPE:
        sentiment = sentiment_module()
        assert sentiment is not None
        result = sentiment.evaluate_sentiment(dict(raw), call, sentiment_of())
    else:
        metrics = metrics_module()
        assert metrics is not None
        result = metrics.evaluate_metric(dict(raw), call)
    if not isinstance(result, OperatorResult):
        raise TypeError(
            msg(
                "{kind} 算子返回了 {type}，应为 OperatorResult",
                kind=kind,
                type=type(result).__name__,
            )
        )
    return result

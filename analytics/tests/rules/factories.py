"""Plain-data builders for rule-engine tests: calls from (role, text) turns, one-rule sets."""

from __future__ import annotations

from typing import Any

from analytics.rules.engine import CompiledRuleSet, compile_rule_set
from analytics.rules.types import Call, OperatorResult, RuleOutcome, Seg

MS_PER_CHAR = 250  # a brisk 240 characters per minute

# The QA standard's greeting check, as most rule tests need one realistic rule.
GREETING_RULE: dict[str, Any] = {
    "key": "missing_greeting",
    "name": "缺少开场白",
    "severity": "major",
    "explanation": "坐席未在开场 15 秒内问候并自报工号{evidence}",
    "operators": {
        "1": {
            "type": "keywords",
            "role": "agent",
            "window": {"first_s": 15},
            "any": ["您好", "你好"],
        },
        "2": {
            "type": "keywords",
            "role": "agent",
            "window": {"first_s": 15},
            "any": ["工号"],
            "pinyin": True,
        },
    },
    "condition": "!(1 && 2)",
    "precondition": None,
}


def conversation(*turns: tuple[str, str], gap_ms: int = 500, start_ms: int = 1000) -> Call:
    """Turns one after another, each lasting MS_PER_CHAR per character, ids from 1."""
    segments: list[Seg] = []
    clock = start_ms
    for number, (role, text) in enumerate(turns, 1):
        end = clock + max(len(text), 1) * MS_PER_CHAR
        segments.append(Seg(id=number, role=role, start_ms=clock, end_ms=end, text=text))
        clock = end + gap_ms
    return Call(segments=tuple(segments))


def timed(*turns: tuple[str, float, float, str]) -> Call:
    """Turns as (role, start_s, end_s, text)."""
    return Call(
        segments=tuple(
            Seg(id=n, role=role, start_ms=int(a * 1000), end_ms=int(b * 1000), text=text)
            for n, (role, a, b, text) in enumerate(turns, 1)
        )
    )


def rule(key: str = "r", *, condition: str | None = None, **operators: Any) -> dict[str, Any]:
    """A rule document; operators given as op1=..., op2=... become "1", "2"."""
    doc: dict[str, Any] = {
        "key": key,
        "name": key,
        "severity": "major",
        "explanation": key + "{evidence}",
        "operators": {name.removeprefix("op"): op for name, op in operators.items()},
    }
    if condition is not None:
        doc["condition"] = condition
    return doc


def outcomes(rules: list[dict[str, Any]], call: Call) -> dict[str, RuleOutcome]:
    compiled = compile_rule_set(rules, version="test")
    return {o.rule_key: o for o in compiled.evaluate(call)}


def single(
    op: dict[str, Any], call: Call, rule_set: CompiledRuleSet | None = None
) -> OperatorResult:
    """Run one operator through the engine; its result as the rule saw it."""
    compiled = rule_set or compile_rule_set([rule("only", op1=op)], version="test")
    (outcome,) = compiled.evaluate(call)
    assert not outcome.error, outcome.error
    if outcome.hit is None:
        return OperatorResult(matched=False)
    return OperatorResult(matched=True, evidence=outcome.hit.evidence)


def matches(op: dict[str, Any], call: Call) -> bool:
    return single(op, call).matched


def texts(result: OperatorResult) -> list[str]:
    return [e.text for e in result.evidence]

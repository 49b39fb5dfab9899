"""The rule engine: compile a rule set once, evaluate every call against it.

`compile_rule_set` validates the documents, gives every keyword of every rule (and every
literal a regex requires) an id in ONE Aho-Corasick automaton — plus one automaton over
keyword sounds when some operator uses pinyin — and compiles regexes and conditions.

`CompiledRuleSet.evaluate(call)` scans the call's text once, then decides each rule:
- a rule built only from keyword-like operators whose keywords do not occur in the call gets
  the outcome computed at compile time on an empty call (most rules, on most calls);
- any other rule evaluates its precondition, then its condition, lazily: an operator runs
  only when the expression needs it, and at most once per call even if rules share it.
A rule that raises (a regex timeout, a failing metric) is reported in its outcome's `error`
and logged; the other rules still run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from analytics.rules import external_ops
from analytics.rules.automaton import KeywordIndex
from analytics.rules.call_context import CallContext
from analytics.rules.expr import Expr
from analytics.rules.expr import evaluate as evaluate_expr
from analytics.rules.reasons import format_reason
from analytics.rules.spec import ConditionBlock, RuleRef, RuleSpec, validate_rule_set
from analytics.rules.text_ops import (
    CompiledOp,
    KeywordRegistry,
    RuleRuntimeError,
    compile_operator,
)
from analytics.rules.types import Call, Evidence, Hit, OperatorResult, RuleOutcome

logger = logging.getLogger(__name__)

__all__ = ["CompiledRuleSet", "RuleRuntimeError", "compile_rule_set"]


class _Block:
    def __init__(self, operators: dict[int, CompiledOp], condition: Expr) -> None:
        self.operators = operators
        self.condition = condition
        self.keyword_ids = frozenset().union(*(op.keyword_ids for op in operators.values()))
        self.static = all(op.static for op in operators.values())

    def evaluate(self, ctx: CallContext) -> tuple[bool, tuple[Evidence, ...]]:
        def result_of(number: int) -> OperatorResult:
            op = self.operators[number]
            key = id(op)
            result = ctx.results.get(key)
            if result is None:
                failure = ctx.failures.get(key)
                if failure is not None:
                    raise failure
                try:
                    result = op.evaluate(ctx)
                except Exception as exc:
                    ctx.failures[key] = exc
                    raise
                ctx.results[key] = result
            return result

        return evaluate_expr(self.condition, result_of)


@dataclass
class _Rule:
    spec: RuleSpec
    body: _Block
    precondition: _Block | int | None  # inline block, or the position of the rule it names
    keyword_ids: frozenset[int]
    static: bool
    baseline: RuleOutcome | None = None


class CompiledRuleSet:
    """A validated, compiled rule set; build with `compile_rule_set` and reuse for every call."""

    def __init__(self, specs: Sequence[RuleSpec], *, version: str, backend: str | None = None):
        self.version = version
        self.rules = tuple(specs)
        registry = KeywordRegistry()
        shared: dict[object, CompiledOp] = {}
        positions = {spec.key: i for i, spec in enumerate(self.rules)}

        def block(source: ConditionBlock) -> _Block:
            ops: dict[int, CompiledOp] = {}
            for number, op_spec in source.operators.items():
                if op_spec not in shared:  # identical operators in several rules run once
                    shared[op_spec] = compile_operator(op_spec, registry)
                ops[number] = shared[op_spec]
            return _Block(ops, source.condition)

        self._rules: list[_Rule] = []
        for spec in self.rules:
            body = block(spec.body)
            pre: _Block | int | None = None
            if isinstance(spec.precondition, RuleRef):
                pre = positions[spec.precondition.key]
            elif isinstance(spec.precondition, ConditionBlock):
                pre = block(spec.precondition)
            inline = pre if isinstance(pre, _Block) else None
            own_ids = body.keyword_ids | (inline.keyword_ids if inline else frozenset())
            static = body.static and (inline.static if inline else True)
            self._rules.append(_Rule(spec, body, pre, own_ids, static))
        self._inherit_from_referenced_rules()
        self.keyword_count = len(registry.keywords)
        self._index = KeywordIndex(registry.keywords, registry.pinyin_thresholds, backend=backend)
        self._rules_by_keyword: dict[int, list[int]] = {}
        for position, rule in enumerate(self._rules):
            for keyword_id in rule.keyword_ids:
                self._rules_by_keyword.setdefault(keyword_id, []).append(position)
        self._compute_baselines()

    @property
    def automaton_count(self) -> int:
        return self._index.automaton_count

    @property
    def automaton_backend(self) -> str:
        return self._index.backend

    @property
    def static_rule_count(self) -> int:
        return sum(rule.static for rule in self._rules)

    def evaluate(self, call: Call) -> list[RuleOutcome]:
        """Every rule's outcome on `call`, in rule-set order."""
        ctx = self._context(call)
        touched: set[int] = set()
        for keyword_id in ctx.occurred:
            touched.update(self._rules_by_keyword.get(keyword_id, ()))
        memo: dict[int, RuleOutcome] = {}
        return [self._outcome(i, ctx, touched, memo) for i in range(len(self._rules))]

    def _context(self, call: Call) -> CallContext:
        return CallContext(call, self._index, external_ops.call_sentiment)

    def _outcome(
        self, position: int, ctx: CallContext, touched: set[int], memo: dict[int, RuleOutcome]
    ) -> RuleOutcome:
        rule = self._rules[position]
        if rule.baseline is not None and position not in touched:
            return rule.baseline
        if position in memo:
            return memo[position]
        spec = rule.spec
        try:
            outcome = self._decide(rule, ctx, touched, memo)
        except Exception as exc:
            expected = isinstance(exc, RuleRuntimeError)
            message = str(exc) if expected else f"{type(exc).__name__}: {exc}"
            log = logger.warning if expected else logger.exception
            log("规则 %s（id %s）在本通话上运行出错，已跳过：%s", spec.key, spec.id, message)
            outcome = RuleOutcome(spec.id, spec.key, applies=False, fired=False, error=message)
        memo[position] = outcome
        return outcome

    def _decide(
        self, rule: _Rule, ctx: CallContext, touched: set[int], memo: dict[int, RuleOutcome]
    ) -> RuleOutcome:
        spec = rule.spec
        if isinstance(rule.precondition, int):
            required = self._outcome(rule.precondition, ctx, touched, memo)
            if required.error:
                raise RuleRuntimeError(f"前置规则「{required.rule_key}」运行出错：{required.error}")
            applies = required.fired
        elif isinstance(rule.precondition, _Block):
            applies = rule.precondition.evaluate(ctx)[0]
        else:
            applies = True
        if not applies:
            return RuleOutcome(spec.id, spec.key, applies=False, fired=False)
        fired, evidence = rule.body.evaluate(ctx)
        if not fired:
            return RuleOutcome(spec.id, spec.key, applies=True, fired=False)
        unique = tuple(dict.fromkeys(evidence))
        reason = format_reason(spec.explanation, name=spec.name, key=spec.key, evidence=unique)
        hit = Hit(spec.id, spec.key, spec.severity, reason, unique)
        return RuleOutcome(spec.id, spec.key, applies=True, fired=True, hit=hit)

    def _inherit_from_referenced_rules(self) -> None:
        # A rule depends on the keywords, and shares the staticness, of the rule it requires.
        def resolve(position: int, seen: frozenset[int]) -> tuple[frozenset[int], bool]:
            rule = self._rules[position]
            if not isinstance(rule.precondition, int) or rule.precondition in seen:
                return rule.keyword_ids, rule.static
            ids, static = resolve(rule.precondition, seen | {position})
            return rule.keyword_ids | ids, rule.static and static

        resolved = [resolve(i, frozenset()) for i in range(len(self._rules))]
        for rule, (ids, static) in zip(self._rules, resolved, strict=True):
            rule.keyword_ids, rule.static = ids, static

    def _compute_baselines(self) -> None:
        ctx = self._context(Call(segments=()))
        memo: dict[int, RuleOutcome] = {}
        for position, rule in enumerate(self._rules):
            if rule.static:
                rule.baseline = self._outcome(position, ctx, set(), memo)


def compile_rule_set(
    specs: Sequence[object], *, version: str, backend: str | None = None
) -> CompiledRuleSet:
    """Validate and compile rule documents. Raises RuleSpecError listing every problem.

    `backend` picks the Aho-Corasick library ("ahocorasick-rs" or "pyahocorasick"); by default
    the faster one installed.
    """
    return CompiledRuleSet(validate_rule_set(specs), version=version, backend=backend)

"""The rule engine: compile a rule set once, evaluate every call against it.

`compile_rule_set` validates the documents, gives every keyword of every rule (and every
literal a regex requires) an id in ONE Aho-Corasick automaton — plus one automaton over
keyword sounds when some operator uses pinyin — and compiles regexes and conditions.

`CompiledRuleSet.evaluate(call)` scans the call's text once, then decides each rule:
- a rule built only from keyword-like operators whose keywords do not occur in the call — or
  occur only in segments its operators' roles do not look at — gets the outcome computed at
  compile time on an empty call (most rules, on most calls);
- any other rule evaluates its precondition, then its condition, lazily: an operator runs
  only when the expression needs it, and at most once per call even if rules share it. The
  evidence of a rule is gathered only when it fires.
A rule that raises (a regex timeout, a failing metric) is reported in its outcome's `error`
and logged; the other rules still run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from analytics.rules import external_ops
from analytics.rules.automaton import KeywordIndex
from analytics.rules.call_context import CallContext, Verdict
from analytics.rules.expr import Expr, Ref, justify, value
from analytics.rules.reasons import format_reason
from analytics.rules.spec import ConditionBlock, RuleRef, RuleSpec, validate_rule_set
from analytics.rules.text_ops import (
    CompiledOp,
    KeywordRegistry,
    RuleRuntimeError,
    compile_operator,
)
from analytics.rules.types import Call, Evidence, Hit, RuleOutcome
from qa_i18n import msg

logger = logging.getLogger(__name__)

__all__ = ["CompiledRuleSet", "RuleRuntimeError", "compile_rule_set"]


Touch = tuple[str, int]  # (operator role, keyword id)


class _Block:
    def __init__(self, operators: dict[int, CompiledOp], condition: Expr) -> None:
        self.operators = operators
        self.condition = condition
        self.touches = frozenset(
            (role, keyword_id)
            for op in operators.values()
            for role, ids in op.touches
            for keyword_id in ids
        )
        self.static = all(op.static for op in operators.values())
        self._single = condition.number if isinstance(condition, Ref) else None

    def _result(self, ctx: CallContext, number: int) -> Verdict:
        op = self.operators[number]
        key = id(op)
        result = ctx.results.get(key)
        if result is None:
            failure = ctx.failures.get(key)
            if failure is not None:
                raise failure
            try:
                result = op.result(ctx)
            except Exception as exc:
                ctx.failures[key] = exc
                raise
            ctx.results[key] = result
        return result

    def value(self, ctx: CallContext) -> bool:
        if self._single is not None:  # most conditions are one operator
            return self._result(ctx, self._single).matched
        return value(self.condition, lambda number: self._result(ctx, number).matched)

    def evaluate(self, ctx: CallContext) -> tuple[bool, tuple[Evidence, ...]]:
        """The condition's value and, when it holds, its evidence (as `expr.evaluate` gives)."""
        if self._single is not None:
            result = self._result(ctx, self._single)
            return (True, tuple(result.evidence)) if result.matched else (False, ())
        holds, refs = justify(self.condition, lambda number: self._result(ctx, number).matched)
        if not holds:
            return False, ()
        return True, tuple(e for number in refs for e in self._result(ctx, number).evidence)


@dataclass
class _Rule:
    spec: RuleSpec
    body: _Block
    precondition: _Block | int | None  # inline block, or the position of the rule it names
    touches: frozenset[Touch]
    static: bool
    baseline: RuleOutcome | None = None

    def __post_init__(self) -> None:
        spec = self.spec
        self.not_applying = RuleOutcome(spec.id, spec.key, applies=False, fired=False)
        self.not_fired = RuleOutcome(spec.id, spec.key, applies=True, fired=False)


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
            touches = body.touches | (inline.touches if inline else frozenset())
            static = body.static and (inline.static if inline else True)
            self._rules.append(_Rule(spec, body, pre, touches, static))
        self._inherit_from_referenced_rules()
        self.keyword_count = len(registry.keywords)
        self._index = KeywordIndex(registry.keywords, registry.pinyin_thresholds, backend=backend)
        self._compute_baselines()
        # Which precomputed outcomes a keyword hit invalidates: by keyword for operators of any
        # role, by (segment role, keyword) for operators of one role.
        by_any: dict[int, set[int]] = {}
        by_role: dict[Touch, set[int]] = {}
        for position, rule in enumerate(self._rules):
            if rule.baseline is None:
                continue
            for role, keyword_id in rule.touches:
                if role == "any":
                    by_any.setdefault(keyword_id, set()).add(position)
                else:
                    by_role.setdefault((role, keyword_id), set()).add(position)
        self._touched_by_keyword = {k: tuple(sorted(v)) for k, v in by_any.items()}
        self._touched_by_role = {k: tuple(sorted(v)) for k, v in by_role.items()}
        self._role_keywords = frozenset(keyword_id for _role, keyword_id in by_role)
        self._baselines = [rule.baseline for rule in self._rules]
        self._always = frozenset(i for i, rule in enumerate(self._rules) if rule.baseline is None)

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
        touched = self._touched(ctx)
        memo: dict[int, RuleOutcome] = {}
        out = list(self._baselines)
        # Rules keeping their precomputed outcome need no work; the others are decided in
        # rule-set order, as if every rule were visited.
        for position in sorted(self._always.union(touched)):
            out[position] = self._outcome(position, ctx, touched, memo)
        return cast(list[RuleOutcome], out)

    def _context(self, call: Call) -> CallContext:
        return CallContext(call, self._index, external_ops.call_sentiment)

    def _touched(self, ctx: CallContext) -> set[int]:
        """Positions of the rules whose precomputed outcome may not hold for this call."""
        touched: set[int] = set()
        by_keyword, by_role = self._touched_by_keyword, self._touched_by_role
        role_keywords = self._role_keywords
        roles = [seg.role for seg in ctx.segments]
        for found in (ctx.literal, ctx.fuzzy):
            for keyword_id, occurrences in found.items():
                positions = by_keyword.get(keyword_id)
                if positions:
                    touched.update(positions)
                if keyword_id in role_keywords:
                    for role in {roles[o.seg] for o in occurrences}:
                        positions = by_role.get((role, keyword_id))
                        if positions:
                            touched.update(positions)
        return touched

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
                raise RuleRuntimeError(
                    msg(
                        "前置规则「{key}」运行出错：{error}",
                        key=required.rule_key,
                        error=required.error,
                    )
                )
            applies = required.fired
        elif isinstance(rule.precondition, _Block):
            applies = rule.precondition.value(ctx)
        else:
            applies = True
        if not applies:
            return rule.not_applying
        fired, evidence = rule.body.evaluate(ctx)
        if not fired:
            return rule.not_fired
        unique = tuple(dict.fromkeys(evidence)) if len(evidence) > 1 else evidence
        reason = format_reason(spec.explanation, name=spec.name, key=spec.key, evidence=unique)
        hit = Hit(spec.id, spec.key, spec.severity, reason, unique)
        return RuleOutcome(spec.id, spec.key, applies=True, fired=True, hit=hit)

    def _inherit_from_referenced_rules(self) -> None:
        # A rule depends on the keywords, and shares the staticness, of the rule it requires.
        def resolve(position: int, seen: frozenset[int]) -> tuple[frozenset[Touch], bool]:
            rule = self._rules[position]
            if not isinstance(rule.precondition, int) or rule.precondition in seen:
                return rule.touches, rule.static
            touches, static = resolve(rule.precondition, seen | {position})
            return rule.touches | touches, rule.static and static

        resolved = [resolve(i, frozenset()) for i in range(len(self._rules))]
        for rule, (touches, static) in zip(self._rules, resolved, strict=True):
            rule.touches, rule.static = touches, static

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

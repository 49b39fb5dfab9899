"""Compiled operators: keywords, regex, proximity, order, and the bridge to metric/sentiment ones.

Keyword-like operators read the occurrences the call's single automaton pass collected; none of
them looks at the text again except for negation checks on their own hits. Each compiled
operator says which keyword ids it depends on and whether it is `static`: with none of those
keywords in a call, its result is the same as on an empty call, which lets the engine reuse a
precomputed outcome for rules a call does not touch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import regex

from analytics.rules import external_ops
from analytics.rules.call_context import MAX_EVIDENCE, CallContext, Occurrence, ascii_lower
from analytics.rules.operator_spec import (
    ExternalOp,
    KeywordsOp,
    MatchOptions,
    OperatorSpec,
    OrderOp,
    ProximityOp,
    RegexOp,
)
from analytics.rules.regex_prefilter import required_literals
from analytics.rules.types import Evidence, OperatorResult


class RuleRuntimeError(RuntimeError):
    """An operator could not finish on this call (e.g. a regex timed out); message is Chinese."""


class KeywordRegistry:
    """Keyword ids across the whole rule set: one automaton serves every rule."""

    def __init__(self) -> None:
        self.keywords: list[str] = []
        self.pinyin_thresholds: dict[int, float] = {}
        self._ids: dict[str, int] = {}

    def ids(self, keywords: Iterable[str], match: MatchOptions | None = None) -> tuple[int, ...]:
        out: list[int] = []
        for keyword in keywords:
            key = ascii_lower(keyword)
            keyword_id = self._ids.setdefault(key, len(self.keywords))
            if keyword_id == len(self.keywords):
                self.keywords.append(key)
            if match is not None and match.pinyin:
                old = self.pinyin_thresholds.get(keyword_id, 1.0)
                self.pinyin_thresholds[keyword_id] = min(old, match.pinyin_threshold)
            if keyword_id not in out:
                out.append(keyword_id)
        return tuple(out)


class CompiledOp(ABC):
    keyword_ids: frozenset[int] = frozenset()
    static: bool = True

    @abstractmethod
    def evaluate(self, ctx: CallContext) -> OperatorResult: ...


def compile_operator(spec: OperatorSpec, registry: KeywordRegistry) -> CompiledOp:
    if isinstance(spec, KeywordsOp):
        return KeywordsEval(spec, registry)
    if isinstance(spec, RegexOp):
        return RegexEval(spec, registry)
    if isinstance(spec, ProximityOp):
        return ProximityEval(spec, registry)
    if isinstance(spec, OrderOp):
        return OrderEval(spec, registry)
    return ExternalEval(spec)


class KeywordsEval(CompiledOp):
    def __init__(self, spec: KeywordsOp, registry: KeywordRegistry) -> None:
        self.spec = spec
        self.ids = registry.ids(spec.keywords, spec.match)
        self.keyword_ids = frozenset(self.ids)
        self._names = {i: registry.keywords[i] for i in self.ids}
        self._empty = OperatorResult(matched=spec.mode == "none")

    def found(self, ctx: CallContext) -> list[Occurrence]:
        """Occurrences passing role, window and negation, in text order."""
        if self.keyword_ids.isdisjoint(ctx.occurred):
            return []
        allowed = ctx.allowed(self.spec.role, self.spec.window)
        return ctx.occurrences(self.ids, self.spec.match, allowed)

    def satisfied(self, found: Sequence[Occurrence]) -> bool:
        """min_count counts outermost hits ("申请退款" hides its "退款"); all/at_least count
        distinct keywords among every hit."""
        spec = self.spec
        if spec.mode == "none":
            return not found
        if len(outermost(found)) < spec.min_count:
            return False
        if spec.mode == "any":
            return True
        distinct = len({o.keyword for o in found})
        return distinct >= (len(self.ids) if spec.mode == "all" else spec.at_least)

    def evaluate(self, ctx: CallContext) -> OperatorResult:
        if self.keyword_ids.isdisjoint(ctx.occurred):
            return self._empty
        found = self.found(ctx)
        shown = outermost(found)[:MAX_EVIDENCE]
        evidence = tuple(ctx.evidence(o, self._names[o.keyword]) for o in shown)
        return OperatorResult(matched=self.satisfied(found), evidence=evidence)

    def satisfied_at(self, ctx: CallContext) -> Occurrence | None:
        """The occurrence (in time order) at which this operator first becomes true."""
        found = sorted(self.found(ctx), key=lambda o: _when(ctx, o))
        for n in range(1, len(found) + 1):
            if self.satisfied(sorted(found[:n], key=Occurrence.sort_key)):
                return found[n - 1]
        return None

    def evidence_for(self, ctx: CallContext, occurrence: Occurrence) -> Evidence:
        return ctx.evidence(occurrence, self._names[occurrence.keyword])


def outermost(found: Sequence[Occurrence]) -> list[Occurrence]:
    kept: list[Occurrence] = []
    for o in found:  # sorted by (seg, start, -end): a contained hit follows its container
        if kept and kept[-1].seg == o.seg and o.start >= kept[-1].start and o.end <= kept[-1].end:
            continue
        kept.append(o)
    return kept


def _when(ctx: CallContext, o: Occurrence) -> tuple[int, int, int]:
    return ctx.time_ms(o.seg, o.start), o.seg, o.start


class RegexEval(CompiledOp):
    def __init__(self, spec: RegexOp, registry: KeywordRegistry) -> None:
        self.spec = spec
        self.pattern = regex.compile(spec.pattern)
        self.exclude = regex.compile(spec.exclude) if spec.exclude else None
        literals = required_literals(spec.pattern)
        self.prefilter = registry.ids(literals) if literals else None
        self.keyword_ids = frozenset(self.prefilter or ())
        self.static = self.prefilter is not None

    def _candidates(self, ctx: CallContext) -> list[int]:
        allowed = ctx.allowed(self.spec.role, self.spec.window)
        if self.prefilter is None:
            positions: Iterable[int] = range(len(ctx.segments)) if allowed is None else allowed
        else:
            positions = {o.seg for k in self.prefilter for o in ctx.literal.get(k, ())}
            if allowed is not None:
                positions = allowed.intersection(positions)
        return sorted(positions)

    def evaluate(self, ctx: CallContext) -> OperatorResult:
        timeout = self.spec.timeout_s
        evidence: list[Evidence] = []
        for position in self._candidates(ctx):
            seg = ctx.segments[position]
            try:
                found = self.pattern.finditer(seg.text, timeout=timeout)
                matches = [m for m in found if m.end() > m.start()]
                exclude = self.exclude if matches else None
                if exclude is not None and exclude.search(seg.text, timeout=timeout):
                    continue
            except TimeoutError as exc:
                raise RuleRuntimeError(
                    f"正则表达式在片段 {seg.id} 上超时（超过 {timeout:g} 秒），本通话跳过该规则"
                ) from exc
            for m in matches[: MAX_EVIDENCE - len(evidence)]:
                evidence.append(
                    Evidence(seg.id, m.start(), m.end(), ctx.time_ms(position, m.start()),
                             ctx.time_ms(position, m.end()), m.group())
                )
        return OperatorResult(matched=bool(evidence), evidence=tuple(evidence))


class ProximityEval(CompiledOp):
    def __init__(self, spec: ProximityOp, registry: KeywordRegistry) -> None:
        self.spec = spec
        self.a = registry.ids(spec.a, spec.match)
        self.b = registry.ids(spec.b, spec.match)
        self.keyword_ids = frozenset(self.a + self.b)
        self._names = {i: registry.keywords[i] for i in self.a + self.b}

    def _near(self, x: Occurrence, y: Occurrence) -> bool:
        if self.spec.within_chars is not None:
            gap = max(y.start - x.end, x.start - y.end)
            return x.seg == y.seg and gap <= self.spec.within_chars
        assert self.spec.within_segments is not None
        return abs(x.seg - y.seg) <= self.spec.within_segments

    def evaluate(self, ctx: CallContext) -> OperatorResult:
        spec = self.spec
        if ctx.occurred.isdisjoint(self.a):
            return OperatorResult(matched=False)
        allowed = ctx.allowed(spec.role, spec.window)
        a_hits = outermost(ctx.occurrences(self.a, spec.match, allowed))
        b_hits = outermost(ctx.occurrences(self.b, spec.match, allowed))
        chosen: list[Occurrence] = []
        for a in a_hits:
            partners = [b for b in b_hits if self._near(a, b)]
            if spec.negate and not partners:
                chosen.append(a)
            elif not spec.negate and partners:
                chosen.extend([a, partners[0]])
        unique = sorted(set(chosen), key=Occurrence.sort_key)[:MAX_EVIDENCE]
        evidence = tuple(ctx.evidence(o, self._names[o.keyword]) for o in unique)
        return OperatorResult(matched=bool(chosen), evidence=evidence)


class OrderEval(CompiledOp):
    """first_before_then: `then` happens and `first` happened strictly earlier (by time).
    then_before_first: `then` happens and `first` did not happen before it (the violation form:
    account details read out before identity was verified)."""

    def __init__(self, spec: OrderOp, registry: KeywordRegistry) -> None:
        self.spec = spec
        self.first = KeywordsEval(spec.first, registry)
        self.then = KeywordsEval(spec.then, registry)
        self.keyword_ids = self.first.keyword_ids | self.then.keyword_ids

    def evaluate(self, ctx: CallContext) -> OperatorResult:
        then_at = self.then.satisfied_at(ctx)
        if then_at is None:
            return OperatorResult(matched=False)
        first_at = self.first.satisfied_at(ctx)
        first_earlier = first_at is not None and _when(ctx, first_at) < _when(ctx, then_at)
        evidence = [self.then.evidence_for(ctx, then_at)]
        if first_at is not None:
            evidence.insert(0 if first_earlier else 1, self.first.evidence_for(ctx, first_at))
        if self.spec.require == "first_before_then":
            return OperatorResult(matched=first_earlier, evidence=tuple(evidence))
        return OperatorResult(matched=not first_earlier, evidence=tuple(evidence))


class ExternalEval(CompiledOp):
    static = False

    def __init__(self, spec: ExternalOp) -> None:
        self.spec = spec

    def evaluate(self, ctx: CallContext) -> OperatorResult:
        return external_ops.evaluate(self.spec.type, self.spec.raw, ctx.call, ctx.sentiment)

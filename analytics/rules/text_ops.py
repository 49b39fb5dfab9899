"""Compiled operators: keywords, regex, proximity, order, and the bridge to metric/sentiment ones.

Keyword-like operators read the occurrences the call's single automaton pass collected; none of
them looks at the text again except for negation checks on their own hits. Each compiled
operator says which keyword ids it depends on and whether it is `static`, and its `touches`:
(role, keyword ids) pairs such that, with none of those keywords in a segment of that role
("any": in any segment), its result is the same as on an empty call. That lets the engine reuse
a precomputed outcome for rules a call does not touch.

`result(ctx)` is what the engine keeps per call: the verdict now, the evidence when first asked
for (only rules that fire need it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence

import regex

from analytics.rules import external_ops
from analytics.rules.call_context import (
    MAX_EVIDENCE,
    CallContext,
    FilterRegistry,
    Occurrence,
    ascii_lower,
)
from analytics.rules.operator_spec import (
    ExternalOp,
    KeywordsOp,
    MatchOptions,
    OperatorSpec,
    OrderOp,
    ProximityOp,
    RegexOp,
)
from analytics.rules.regex_prefilter import context_free, required_literals
from analytics.rules.types import Evidence, OperatorResult
from qa_i18n import msg


class RuleRuntimeError(RuntimeError):
    """An operator could not finish on this call (e.g. a regex timed out); message is Chinese."""


class KeywordRegistry:
    """Keyword ids across the whole rule set: one automaton serves every rule."""

    def __init__(self) -> None:
        self.keywords: list[str] = []
        self.pinyin_thresholds: dict[int, float] = {}
        self.filters = FilterRegistry()
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


class LazyResult:
    """An operator's verdict, with its evidence computed on first access."""

    __slots__ = ("_evidence", "_make", "matched")

    def __init__(self, matched: bool, make: Callable[[], tuple[Evidence, ...]]) -> None:
        self.matched = matched
        self._make = make
        self._evidence: tuple[Evidence, ...] | None = None

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        if self._evidence is None:
            self._evidence = self._make()
        return self._evidence


Result = OperatorResult | LazyResult
Touches = tuple[tuple[str, frozenset[int]], ...]


class CompiledOp(ABC):
    keyword_ids: frozenset[int] = frozenset()
    static: bool = True
    touches: Touches = ()

    @abstractmethod
    def evaluate(self, ctx: CallContext) -> OperatorResult: ...

    def result(self, ctx: CallContext) -> Result:
        return self.evaluate(ctx)


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
        self.touches = ((spec.role, self.keyword_ids),)
        self._where = registry.filters.filter_for(spec.role, spec.window)
        self._names = {i: registry.keywords[i] for i in self.ids}
        self._empty = OperatorResult(matched=spec.mode == "none")
        self._any_once = spec.mode == "any" and spec.min_count == 1

    def found(self, ctx: CallContext) -> list[Occurrence]:
        """Occurrences passing role, window and negation, in text order."""
        if self.keyword_ids.isdisjoint(ctx.occurred):
            return []
        return ctx.occurrences(self.ids, self.spec.match, ctx.allowed(self._where))

    def satisfied(self, found: Sequence[Occurrence]) -> bool:
        """min_count counts outermost hits ("申请退款" hides its "退款"); all/at_least count
        distinct keywords among every hit."""
        if self._any_once:  # the common case: one outermost hit is any hit
            return bool(found)
        spec = self.spec
        if spec.mode == "none":
            return not found
        if len(outermost(found)) < spec.min_count:
            return False
        if spec.mode == "any":
            return True
        distinct = len({o.keyword for o in found})
        return distinct >= (len(self.ids) if spec.mode == "all" else spec.at_least)

    def result(self, ctx: CallContext) -> Result:
        if self.keyword_ids.isdisjoint(ctx.occurred):
            return self._empty
        found = ctx.occurrences(self.ids, self.spec.match, ctx.allowed(self._where))
        return LazyResult(self.satisfied(found), lambda: self._evidence(ctx, found))

    def _evidence(self, ctx: CallContext, found: list[Occurrence]) -> tuple[Evidence, ...]:
        names = self._names
        return tuple(ctx.evidence(o, names[o.keyword]) for o in outermost(found)[:MAX_EVIDENCE])

    def evaluate(self, ctx: CallContext) -> OperatorResult:
        result = self.result(ctx)
        if isinstance(result, OperatorResult):
            return result
        return OperatorResult(matched=result.matched, evidence=result.evidence)

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
        self.touches = ((spec.role, self.keyword_ids),) if self.static else ()
        self._where = registry.filters.filter_for(spec.role, spec.window)
        # Without literals to look for, a context-free pattern is searched over the whole call
        # first: segments before its first hit cannot match (see regex_prefilter.context_free).
        self._scout = self.prefilter is None and context_free(spec.pattern)

    def _candidates(self, ctx: CallContext) -> list[int]:
        allowed = ctx.allowed(self._where)
        if self.prefilter is None:
            positions: Iterable[int] = range(len(ctx.segments)) if allowed is None else allowed
        else:
            positions = {o.seg for k in self.prefilter for o in ctx.literal.get(k, ())}
            if allowed is not None:
                positions = allowed.intersection(positions)
        ordered = sorted(positions)
        return self._scouted(ctx, ordered) if self._scout and ordered else ordered

    def _scouted(self, ctx: CallContext, positions: list[int]) -> list[int]:
        """The candidates where a search over the joined text finds a match starting in them.
        A search that times out rules nothing more out: the rest are all kept."""
        text, offsets = ctx.joined, ctx.offsets
        kept: list[int] = []
        i = 0
        while i < len(positions):
            try:
                found = self.pattern.search(text, offsets[positions[i]],
                                            timeout=self.spec.timeout_s)  # fmt: skip
            except TimeoutError:
                return kept + positions[i:]
            if found is None:
                break
            hit = ctx.segment_at(found.start())
            while i < len(positions) and positions[i] < hit:
                i += 1  # no match starts before the hit
            if i < len(positions) and positions[i] == hit:
                kept.append(hit)
                i += 1
        return kept

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
                    msg(
                        "正则表达式在片段 {segment} 上超时（超过 {seconds} 秒），本通话跳过该规则",
                        segment=seg.id,
                        seconds=f"{timeout:g}",
                    )
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
        # Without an A hit nothing is near or lonely: only A's keywords move the result.
        self.touches = ((spec.role, frozenset(self.a)),)
        self._where = registry.filters.filter_for(spec.role, spec.window)
        self._names = {i: registry.keywords[i] for i in self.a + self.b}
        self._empty = OperatorResult(matched=False)

    def result(self, ctx: CallContext) -> Result:
        spec = self.spec
        if ctx.occurred.isdisjoint(self.a):
            return self._empty
        allowed = ctx.allowed(self._where)
        a_hits = outermost(ctx.occurrences(self.a, spec.match, allowed))
        if not a_hits:
            return LazyResult(False, tuple)
        # B hits by segment, in text order: the first partner of an A hit is the first B hit
        # in text order that is near it.
        b_by_seg: dict[int, list[Occurrence]] = {}
        for b in outermost(ctx.occurrences(self.b, spec.match, allowed)):
            b_by_seg.setdefault(b.seg, []).append(b)
        chars, reach = spec.within_chars, spec.within_segments or 0
        chosen: list[Occurrence] = []
        for a in a_hits:
            partner: Occurrence | None = None
            if chars is not None:
                for b in b_by_seg.get(a.seg, ()):
                    if max(b.start - a.end, a.start - b.end) <= chars:
                        partner = b
                        break
            else:
                for seg in range(a.seg - reach, a.seg + reach + 1):
                    near = b_by_seg.get(seg)
                    if near:
                        partner = near[0]
                        break
            if spec.negate and partner is None:
                chosen.append(a)
            elif not spec.negate and partner is not None:
                chosen.extend([a, partner])
        return LazyResult(bool(chosen), lambda: self._evidence(ctx, chosen))

    def _evidence(self, ctx: CallContext, chosen: list[Occurrence]) -> tuple[Evidence, ...]:
        unique = sorted(set(chosen), key=Occurrence.sort_key)[:MAX_EVIDENCE]
        return tuple(ctx.evidence(o, self._names[o.keyword]) for o in unique)

    def evaluate(self, ctx: CallContext) -> OperatorResult:
        result = self.result(ctx)
        if isinstance(result, OperatorResult):
            return result
        return OperatorResult(matched=result.matched, evidence=result.evidence)


class OrderEval(CompiledOp):
    """first_before_then: `then` happens and `first` happened strictly earlier (by time).
    then_before_first: `then` happens and `first` did not happen before it (the violation form:
    account details read out before identity was verified)."""

    def __init__(self, spec: OrderOp, registry: KeywordRegistry) -> None:
        self.spec = spec
        self.first = KeywordsEval(spec.first, registry)
        self.then = KeywordsEval(spec.then, registry)
        self.keyword_ids = self.first.keyword_ids | self.then.keyword_ids
        self.touches = self.then.touches  # until `then` happens there is no verdict

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

"""Keyword rules over plain data: segments in, hits out. No Django here.

Every keyword of every active rule goes into one Aho-Corasick automaton, so a
call is scanned once however many rules there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

ROLE_ANY = "any"


@dataclass(frozen=True)
class SegmentData:
    id: int
    role: str
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class KeywordRuleSpec:
    rule_id: int
    name: str
    keywords: tuple[str, ...]
    role: str = ROLE_ANY
    # "{keyword}" and "{role}" are filled in per hit.
    reason_template: str = "命中关键词「{keyword}」"


@dataclass(frozen=True)
class HitResult:
    rule_id: int
    segment_id: int
    char_start: int
    char_end: int
    start_ms: int
    end_ms: int
    matched_text: str
    reason: str


_ROLE_NAMES = {"agent": "坐席", "customer": "客户", "unknown": "说话人"}


class CompiledRuleSet:
    """Compiled once per rule-set version and reused for every call."""

    def __init__(self, rules: Iterable[KeywordRuleSpec]) -> None:
        self.rules = {rule.rule_id: rule for rule in rules}
        owners: dict[str, list[int]] = {}
        for rule in self.rules.values():
            for keyword in {k.strip() for k in rule.keywords if k.strip()}:
                owners.setdefault(keyword, []).append(rule.rule_id)
        self._automaton: ahocorasick.Automaton | None = None
        if owners:
            automaton = ahocorasick.Automaton()
            for keyword, rule_ids in owners.items():
                automaton.add_word(keyword, (keyword, tuple(sorted(rule_ids))))
            automaton.make_automaton()
            self._automaton = automaton

    def find_hits(self, segments: Sequence[SegmentData]) -> list[HitResult]:
        """Every (rule, keyword occurrence) in the call, in segment order."""
        if self._automaton is None:
            return []
        hits: list[HitResult] = []
        for segment in segments:
            for end_index, (keyword, rule_ids) in self._automaton.iter(segment.text):
                char_end = end_index + 1
                char_start = char_end - len(keyword)
                for rule_id in rule_ids:
                    rule = self.rules[rule_id]
                    if rule.role != ROLE_ANY and rule.role != segment.role:
                        continue
                    hits.append(_hit(rule, segment, keyword, char_start, char_end))
        hits.sort(key=lambda h: (h.start_ms, h.segment_id, h.char_start, h.rule_id))
        return hits


def _hit(
    rule: KeywordRuleSpec, segment: SegmentData, keyword: str, char_start: int, char_end: int
) -> HitResult:
    # Without character timestamps, place the hit proportionally inside its segment.
    length = max(len(segment.text), 1)
    span = segment.end_ms - segment.start_ms
    return HitResult(
        rule_id=rule.rule_id,
        segment_id=segment.id,
        char_start=char_start,
        char_end=char_end,
        start_ms=segment.start_ms + span * char_start // length,
        end_ms=segment.start_ms + span * char_end // length,
        matched_text=keyword,
        reason=rule.reason_template.format_map(
            _SafeFormat(keyword=keyword, role=_ROLE_NAMES.get(segment.role, segment.role))
        ),
    )


class _SafeFormat(dict[str, str]):
    # A template typo shows the placeholder instead of crashing the analysis.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"

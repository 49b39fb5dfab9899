"""Everything computed once per call and shared by all rules: the automaton pass over the text,
which segments pass each role/window filter, negation checks, evidence for keyword hits, the
call's sentiment, and the results of operators already evaluated (identical operators in
different rules run once).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from analytics.rules.automaton import KeywordIndex
from analytics.rules.negation import is_negated
from analytics.rules.operator_spec import MatchOptions, Window
from analytics.rules.types import Call, Evidence, Seg
from qa_i18n import msg

SEPARATOR = "\x1e"  # between segments in the scanned text; keywords cannot contain it
MAX_EVIDENCE = 20


class Occurrence(NamedTuple):  # a tuple: the engine makes a few hundred per call
    seg: int  # position in call.segments
    start: int
    end: int
    keyword: int  # keyword id in the rule set's index
    similarity: float = 1.0  # < 1 only for pinyin matches; 1.0 for exact sound-alikes too
    fuzzy: bool = False  # found through pinyin, not written as the keyword

    def sort_key(self) -> tuple[int, int, int]:
        return self.seg, self.start, -self.end


class Verdict(Protocol):
    """An operator's result as the engine keeps it: OperatorResult, or one whose evidence is
    computed on first access."""

    @property
    def matched(self) -> bool: ...

    @property
    def evidence(self) -> tuple[Evidence, ...]: ...


class SegmentFilter:
    """A role and window pair, made once per rule set (`filter_for`) so calls cache the segments
    passing it by identity instead of hashing the window every time an operator asks."""

    __slots__ = ("role", "window")

    def __init__(self, role: str, window: Window | None) -> None:
        self.role = role
        self.window = window


class FilterRegistry:
    def __init__(self) -> None:
        self._filters: dict[tuple[str, Window | None], SegmentFilter] = {}

    def filter_for(self, role: str, window: Window | None) -> SegmentFilter:
        found = self._filters.get((role, window))
        if found is None:
            found = self._filters[(role, window)] = SegmentFilter(role, window)
        return found


def ascii_lower(text: str) -> str:
    """A–Z to a–z only, so spans never move (str.lower() can lengthen a few characters)."""
    if text.isascii():
        return text.lower()
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


class CallContext:
    def __init__(
        self, call: Call, index: KeywordIndex, sentiment_of: Callable[[Call], Any]
    ) -> None:
        self.call = call
        self.segments: tuple[Seg, ...] = call.segments
        self._sentiment_of = sentiment_of
        self._sentiment: Any = None
        self._sentiment_done = False
        self.results: dict[int, Verdict] = {}  # id(compiled operator) → result
        self.failures: dict[int, Exception] = {}  # a failed operator is not retried
        self._allowed: dict[SegmentFilter, frozenset[int] | None] = {}
        self._negated: dict[tuple[int, int, int, int], bool] = {}
        self._negated_by_window: dict[int, dict[int, bool]] = {}
        self._evidence: dict[tuple[int, str], Evidence] = {}
        self._end_ms: int | None = None
        self._joined: str | None = None
        offsets: list[int] = []
        position = 0
        for seg in self.segments:
            offsets.append(position)
            position += len(seg.text) + 1
        self.offsets = offsets  # where each segment starts in the joined text
        text = ascii_lower(SEPARATOR.join(seg.text for seg in self.segments))
        literal, fuzzy = index.scan(text) if self.segments else ({}, {})
        self.literal = {k: self._place(spans, offsets, k) for k, spans in literal.items()}
        self.fuzzy = {k: self._place(spans, offsets, k) for k, spans in fuzzy.items()}
        self.occurred = self.literal.keys() | self.fuzzy.keys()

    @staticmethod
    def _place(spans: list[Any], offsets: list[int], keyword: int) -> list[Occurrence]:
        out: list[Occurrence] = []
        for span in spans:
            seg = bisect_right(offsets, span[0]) - 1
            base = offsets[seg]
            if len(span) == 2:
                out.append(Occurrence(seg, span[0] - base, span[1] - base, keyword))
            else:
                out.append(Occurrence(seg, span[0] - base, span[1] - base, keyword, span[2], True))
        out.sort(key=Occurrence.sort_key)  # in text order (it nearly always is already)
        return out

    @property
    def joined(self) -> str:
        """The segments' text as written, joined by SEPARATOR (positions as in `offsets`)."""
        if self._joined is None:
            self._joined = SEPARATOR.join(seg.text for seg in self.segments)
        return self._joined

    def segment_at(self, position: int) -> int:
        """The segment holding `position` of the joined text (a separator counts to the one
        before it)."""
        return bisect_right(self.offsets, position) - 1

    @property
    def end_ms(self) -> int:
        if self._end_ms is None:
            self._end_ms = self.call.end_ms
        return self._end_ms

    def allowed(self, where: SegmentFilter) -> frozenset[int] | None:
        """Positions of the segments passing the role and window filters; None means all."""
        try:
            return self._allowed[where]
        except KeyError:
            found = self._allowed[where] = self._compute_allowed(where.role, where.window)
            return found

    def _compute_allowed(self, role: str, window: Window | None) -> frozenset[int] | None:
        if role == "any" and window is None:
            return None
        segments = self.segments
        if window is None:
            return frozenset(i for i, s in enumerate(segments) if s.role == role)
        role_end = max((s.end_ms for s in segments if s.role == role), default=0)
        lo, hi = window.bounds_ms(self.end_ms, role_end)
        return frozenset(
            i
            for i, s in enumerate(segments)
            if (role == "any" or s.role == role) and s.start_ms < hi and s.end_ms > lo
        )

    def occurrences(
        self, keyword_ids: tuple[int, ...], match: MatchOptions, allowed: frozenset[int] | None
    ) -> list[Occurrence]:
        """Occurrences of these keywords that pass the filters, in text order."""
        literal = self.literal
        if not match.pinyin:
            parts = [hits for keyword_id in keyword_ids if (hits := literal.get(keyword_id))]
        else:
            fuzzy, threshold = self.fuzzy, match.pinyin_threshold
            parts = []
            for keyword_id in keyword_ids:
                hits = literal.get(keyword_id)
                if hits:
                    parts.append(hits)
                if keyword_id in fuzzy:
                    parts.append([o for o in fuzzy[keyword_id] if o.similarity >= threshold])
        if not parts:
            return []
        # Each keyword's hits are in text order already (see _place): one list needs no sort.
        found = parts[0] if len(parts) == 1 else [o for hits in parts for o in hits]
        if allowed is not None:
            found = [o for o in found if o.seg in allowed]
        if match.negation != "include":
            wanted = match.negation == "only"
            negated = self._negated_in(match.negation_window)
            found = [o for o in found if negated(o) == wanted]
        if len(parts) > 1:
            found.sort(key=Occurrence.sort_key)
        elif found is parts[0]:
            found = found[:]  # never hand out the context's own list
        return found

    def _negated_in(self, window: int) -> Callable[[Occurrence], bool]:
        """Whether an occurrence is negated with this window, cached per occurrence."""
        cache = self._negated_by_window.get(window)
        if cache is None:
            cache = self._negated_by_window[window] = {}
        segments = self.segments

        def negated(o: Occurrence) -> bool:
            value = cache.get(id(o))  # occurrences live as long as the context
            if value is None:
                value = cache[id(o)] = is_negated(segments[o.seg].text, o.start, o.end,
                                                  window=window)  # fmt: skip
            return value

        return negated

    def negated(self, occurrence: Occurrence, window: int) -> bool:
        key = (occurrence.seg, occurrence.start, occurrence.end, window)
        value = self._negated.get(key)
        if value is None:
            text = self.segments[occurrence.seg].text
            value = is_negated(text, occurrence.start, occurrence.end, window=window)
            self._negated[key] = value
        return value

    def time_ms(self, seg: int, char: int) -> int:
        # Without character timestamps, place a character proportionally inside its segment.
        segment = self.segments[seg]
        length = max(len(segment.text), 1)
        return segment.start_ms + (segment.end_ms - segment.start_ms) * char // length

    def evidence(self, occurrence: Occurrence, keyword: str = "") -> Evidence:
        # Rules sharing a keyword share its evidence (immutable); the keyword only shows in the
        # note of a pinyin hit. Occurrences live as long as the context, so ids are stable keys.
        key = (id(occurrence), keyword if occurrence.fuzzy else "")
        found = self._evidence.get(key)
        if found is None:
            found = self._evidence[key] = self._make_evidence(occurrence, keyword)
        return found

    def _make_evidence(self, occurrence: Occurrence, keyword: str) -> Evidence:
        segment = self.segments[occurrence.seg]
        note = ""
        if occurrence.fuzzy:
            note = msg(
                "拼音近似「{keyword}」（相似度 {similarity}）",
                keyword=keyword,
                similarity=f"{occurrence.similarity:.2f}",
            )
        return Evidence(
            segment_id=segment.id,
            char_start=occurrence.start,
            char_end=occurrence.end,
            start_ms=self.time_ms(occurrence.seg, occurrence.start),
            end_ms=self.time_ms(occurrence.seg, occurrence.end),
            text=segment.text[occurrence.start : occurrence.end],
            note=note,
        )

    def sentiment(self) -> Any:
        if not self._sentiment_done:
            self._sentiment = self._sentiment_of(self.call)
            self._sentiment_done = True
        return self._sentiment

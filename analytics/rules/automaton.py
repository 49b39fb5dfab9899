"""Keyword automatons: every keyword of a rule set in one Aho-Corasick automaton, plus one over
the keywords' sound strings when some operator asks for pinyin matching.

Two interchangeable backends. ahocorasick-rs is used when installed: with the sparse hits of
real rule lexicons it scanned 1,500 characters against 5,000 keywords in ~30 µs against
pyahocorasick's ~180 µs (a wide first-character fan-out is slow in pyahocorasick). pyahocorasick
(a declared dependency) is the fallback, so the engine works either way.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from types import ModuleType
from typing import Protocol

import ahocorasick

from analytics.rules.pinyin_match import keyword_sounds, plain_pinyin, similarity, sound_string

ahocorasick_rs: ModuleType | None
try:  # optional, faster backend
    ahocorasick_rs = importlib.import_module("ahocorasick_rs")
except ImportError:  # pragma: no cover - depends on the environment
    ahocorasick_rs = None

BACKENDS = ("ahocorasick-rs", "pyahocorasick")


def available_backends() -> tuple[str, ...]:
    return BACKENDS if ahocorasick_rs is not None else BACKENDS[1:]


def default_backend() -> str:
    # QA_RULES_AUTOMATON pins a backend, e.g. to compare them.
    wanted = os.environ.get("QA_RULES_AUTOMATON", "")
    if wanted in available_backends():
        return wanted
    return available_backends()[0]


class Automaton(Protocol):
    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        """(pattern index, start, end) of every occurrence, overlaps included."""
        ...


class _RsAutomaton:
    def __init__(self, patterns: Sequence[str]) -> None:
        assert ahocorasick_rs is not None
        self._ac = ahocorasick_rs.AhoCorasick(list(patterns))

    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        return iter(self._ac.find_matches_as_indexes(text, overlapping=True))


class _PyAutomaton:
    def __init__(self, patterns: Sequence[str]) -> None:
        self._ac = ahocorasick.Automaton()
        for index, pattern in enumerate(patterns):
            self._ac.add_word(pattern, (index, len(pattern)))
        self._ac.make_automaton()

    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        for end, (index, length) in self._ac.iter(text):
            yield index, end + 1 - length, end + 1


def build_automaton(patterns: Sequence[str], backend: str) -> Automaton:
    return _RsAutomaton(patterns) if backend == "ahocorasick-rs" else _PyAutomaton(patterns)


@lru_cache(maxsize=1 << 16)
def _score(window: str, pinyin: str) -> float:
    # The same few thousand sound-alike windows recur from call to call.
    return similarity(plain_pinyin(window), pinyin)


Span = tuple[int, int]
FuzzySpan = tuple[int, int, float]


class KeywordIndex:
    """Compiled once per rule set. Keyword ids are positions in `keywords`."""

    def __init__(
        self,
        keywords: Sequence[str],
        pinyin_thresholds: Mapping[int, float],
        *,
        backend: str | None = None,
    ) -> None:
        self.backend = backend or default_backend()
        self.keywords = tuple(keywords)
        self._literal = build_automaton(self.keywords, self.backend) if self.keywords else None
        sounds: list[str] = []
        self._sound_owner: list[tuple[int, str]] = []  # (keyword id, exact pinyin)
        self._threshold = dict(pinyin_thresholds)
        for keyword_id in sorted(pinyin_thresholds):
            for variant in keyword_sounds(self.keywords[keyword_id]):
                sounds.append(variant.sound)
                self._sound_owner.append((keyword_id, variant.pinyin))
        self._sound = build_automaton(sounds, self.backend) if sounds else None

    @property
    def automaton_count(self) -> int:
        return (self._literal is not None) + (self._sound is not None)

    def scan(self, text: str) -> tuple[dict[int, list[Span]], dict[int, list[FuzzySpan]]]:
        """Literal hits and pinyin-only hits (spans where the keyword itself is not written)."""
        literal: dict[int, list[Span]] = {}
        if self._literal is not None:
            for keyword_id, start, end in self._literal.find(text):
                literal.setdefault(keyword_id, []).append((start, end))
        fuzzy: dict[int, list[FuzzySpan]] = {}
        if self._sound is not None:
            best: dict[tuple[int, int, int], float] = {}
            for variant, start, end in self._sound.find(sound_string(text)):
                keyword_id, pinyin = self._sound_owner[variant]
                window = text[start:end]
                if window == self.keywords[keyword_id]:
                    continue
                score = _score(window, pinyin)
                key = (keyword_id, start, end)
                if score >= self._threshold[keyword_id] and score > best.get(key, 0.0):
                    best[key] = score
            for (keyword_id, start, end), score in sorted(best.items()):
                fuzzy.setdefault(keyword_id, []).append((start, end, score))
        return literal, fuzzy

"""Homophone-tolerant keyword matching: 推费 ↔ 退费, 工好 ↔ 工号, 消户 ↔ 销户, 理才 ↔ 理财.

Text is turned into a "sound string" with one token character per source character, so an
Aho-Corasick automaton over the keywords' sound strings finds candidates with spans that line
up with the text. Each Han character becomes a private-use character standing for its toneless
syllable after merging easily confused sounds (zh/z, ch/c, sh/s, n/l initials; -ng/-n finals);
every other character stands for itself (ASCII lower-cased). A candidate is kept when the
similarity of the exact toneless pinyin — 1 − edit distance / longer length — reaches the
operator's threshold. So the confusable-sound merge decides what can be a candidate and the
threshold decides what counts: a near-homophone outside those sound classes is not found.

Characters get their most common reading (pypinyin's table, per character, no word context:
pypinyin's phrase segmentation costs ~5 ms per 1,200 characters, far over the budget).
Keywords instead get every combination of their characters' readings (up to 16), so 还款 is
found as "huan kuan" and "hai kuan" alike. Only keywords of two or more Han characters get a
pinyin form: a single syllable has too many homophones.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache

from pypinyin.contrib.tone_convert import to_normal
from pypinyin.pinyin_dict import pinyin_dict

from qa_i18n import msg

MAX_VARIANTS = 16
_TOKEN_BASE = 0xE000  # Unicode private-use area: never produced by the ASR
_TOKEN_LIMIT = 0xF8FF
_PLACEHOLDER = "\ufffd"  # stands in for private-use characters found in real text


@cache
def readings(char: str) -> tuple[str, ...]:
    """Toneless readings of one character, most common first; () when it has no pinyin."""
    raw = pinyin_dict.get(ord(char)) if len(char) == 1 else None
    if not raw:
        return ()
    out: list[str] = []
    for reading in raw.split(","):
        plain = to_normal(reading).replace("ü", "v")
        if plain and plain not in out:
            out.append(plain)
    return tuple(out)


def fuzzy_syllable(syllable: str) -> str:
    """Merge sounds ASR and accents confuse: zh/z ch/c sh/s n/l initials, -ng/-n finals."""
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    elif syllable[:1] == "n" and syllable != "ng":
        syllable = "l" + syllable[1:]
    if syllable.endswith("ng") and len(syllable) > 2:
        syllable = syllable[:-1]
    return syllable


def similarity(a: str, b: str) -> float:
    """1 − Levenshtein distance / length of the longer string, spaces ignored."""
    a, b = a.replace(" ", ""), b.replace(" ", "")
    if a == b:
        return 1.0
    longest = max(len(a), len(b))
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / longest


class _Tokens:
    """Process-wide mapping of merged syllables to private-use characters."""

    def __init__(self) -> None:
        self._by_syllable: dict[str, str] = {}

    def token(self, fuzzy: str) -> str:
        token = self._by_syllable.get(fuzzy)
        if token is None:
            code = _TOKEN_BASE + len(self._by_syllable)
            if code > _TOKEN_LIMIT:  # cannot happen with ~400 Mandarin syllables
                raise RuntimeError(msg("拼音音节数量超出预期"))
            token = self._by_syllable.setdefault(fuzzy, chr(code))
        return token


_TOKENS = _Tokens()


class _SoundTable(dict[int, str]):
    """str.translate table filled on first sight of each character."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        found = readings(char)
        if found:
            value = _TOKENS.token(fuzzy_syllable(found[0]))
        elif _TOKEN_BASE <= code <= _TOKEN_LIMIT:
            value = _PLACEHOLDER
        else:
            value = char.lower() if char.isascii() else char
        self[code] = value
        return value


_SOUND_TABLE = _SoundTable()


def sound_string(text: str) -> str:
    """One token per character of `text`, so spans carry over unchanged."""
    return text.translate(_SOUND_TABLE)


def plain_pinyin(text: str) -> str:
    """Toneless pinyin of `text` by most common readings, syllables joined by spaces."""
    parts: list[str] = []
    for char in text:
        found = readings(char)
        parts.append(found[0] if found else char.lower())
    return " ".join(parts)


@dataclass(frozen=True)
class KeywordSound:
    sound: str  # the token string fed to the automaton
    pinyin: str  # exact toneless pinyin of this reading, for the similarity check


def keyword_sounds(keyword: str) -> tuple[KeywordSound, ...]:
    """Every reading combination of a keyword (≤ MAX_VARIANTS); () if it has < 2 Han chars."""
    per_char = [readings(char) for char in keyword]
    if sum(1 for options in per_char if options) < 2:
        return ()
    if math.prod(max(len(options), 1) for options in per_char) > MAX_VARIANTS:
        per_char = [options[:1] for options in per_char]
    # A character without pinyin (digit, letter) stands for itself, as in sound_string.
    choices = [
        [(_TOKENS.token(fuzzy_syllable(s)), s) for s in options] or [(sound_string(char),) * 2]
        for options, char in zip(per_char, keyword, strict=True)
    ]
    out: dict[tuple[str, str], KeywordSound] = {}
    for combo in itertools.product(*choices):
        sound = "".join(token for token, _ in combo)
        pinyin = " ".join(syllable for _, syllable in combo)
        out.setdefault((sound, pinyin), KeywordSound(sound, pinyin))
    return tuple(out.values())

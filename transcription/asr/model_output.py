"""Turning one funasr result dict into clean text, emotion, language and character times.

SenseVoice prefixes its text with rich tags (``<|zh|><|NEUTRAL|><|Speech|><|withitn|>``)
and funasr's ``rich_transcription_postprocess`` turns some of them into emoji; both are
read here and removed from the text. Paraformer-family models report one
``[start_ms, end_ms]`` per token and Fun-ASR-Nano one ``{token, start_time, end_time}``
(seconds) per token; both are spread over the characters of the cleaned text.
No number normalisation happens here: the service applies ITN to every engine's output.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# SenseVoice emotion tags → SegmentResult.emotion; EMO_UNKNOWN means "no emotion".
EMOTION_BY_TAG = {
    "HAPPY": "happy",
    "SAD": "sad",
    "ANGRY": "angry",
    "NEUTRAL": "neutral",
    "FEARFUL": "fearful",
    "DISGUSTED": "disgusted",
    "SURPRISED": "surprised",
    "EMO_UNKNOWN": "",
}
# Language tags that name a language (``<|nospeech|>`` does not).
LANGUAGE_TAGS = frozenset({"zh", "en", "yue", "ja", "ko"})
# The emoji funasr's rich_transcription_postprocess substitutes for emotion tags ...
EMOTION_BY_EMOJI = {
    "😊": "happy",
    "😔": "sad",
    "😡": "angry",
    "😰": "fearful",
    "🤢": "disgusted",
    "😮": "surprised",
}
# ... and for audio events (music, applause, laughter, crying, sneeze, cough, no speech).
_EVENT_EMOJI = "🎼👏😀😭🤧😷❓"
_EMOJI = re.compile("[" + "".join(EMOTION_BY_EMOJI) + _EVENT_EMOJI + "]")
_RICH_TAG = re.compile(r"<\|([^|]*)\|>")
_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")


@dataclass(frozen=True)
class RichText:
    """Text with the tags taken out, and what the tags said."""

    text: str
    emotion: str = ""
    language: str = ""


def normalize_text(text: str) -> str:
    """Drop rich tags, tag emoji and the spaces funasr puts between CJK characters."""
    text = _RICH_TAG.sub("", text)
    text = _EMOJI.sub("", text)
    text = _CJK_GAP.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def parse_rich_text(raw: str) -> RichText:
    """Split SenseVoice-style output into clean text, lower-case emotion and language code.

    The first emotion tag wins (one per segment in practice); without tags the
    emotion emoji of ``rich_transcription_postprocess`` output is read instead.
    """
    tags = _RICH_TAG.findall(raw)
    emotion = next((EMOTION_BY_TAG[t] for t in tags if t in EMOTION_BY_TAG), None)
    if emotion is None:
        emoji = next((ch for ch in raw if ch in EMOTION_BY_EMOJI), None)
        emotion = EMOTION_BY_EMOJI[emoji] if emoji else ""
    language = next((t for t in tags if t in LANGUAGE_TAGS), "")
    return RichText(normalize_text(raw), emotion, language)


def timestamp_units(result: Mapping[str, Any]) -> tuple[list[str], list[tuple[int, int]]]:
    """(tokens, relative [start_ms, end_ms] spans) from a funasr result; ([], []) if none."""
    dict_stamps = result.get("timestamps")
    if isinstance(dict_stamps, list) and dict_stamps and isinstance(dict_stamps[0], dict):
        # Fun-ASR-Nano: seconds, with the token text alongside.
        try:
            spans = [
                (round(float(t["start_time"]) * 1000), round(float(t["end_time"]) * 1000))
                for t in dict_stamps
            ]
        except (KeyError, TypeError, ValueError):
            return [], []
        return [str(t.get("token", "")) for t in dict_stamps], spans
    stamps = result.get("timestamp")
    if not isinstance(stamps, list) or not stamps:
        return [], []
    try:
        spans = [(int(s[0]), int(s[1])) for s in stamps]
    except (IndexError, TypeError, ValueError):
        return [], []
    words = result.get("words")
    if isinstance(words, list) and len(words) == len(spans):
        return [str(w) for w in words], spans
    # Paraformer: one span per whitespace-separated token of its text.
    return _RICH_TAG.sub("", str(result.get("text", ""))).split(), spans


def char_timestamps(
    text: str, units: Sequence[str], spans: Sequence[tuple[int, int]], offset_ms: int = 0
) -> tuple[tuple[int, int], ...]:
    """One absolute (start_ms, end_ms) per character of ``text``; () if units do not fit.

    ``units`` are the model's tokens, each with one span, spread evenly over their
    characters. Whitespace, and punctuation the tokens lack, get a zero-length span
    at the previous character's end, so the result always has ``len(text)`` entries.
    """
    if not text or len(units) != len(spans):
        return ()
    chars: list[tuple[str, int, int]] = []
    for unit, (start, end) in zip(units, spans, strict=True):
        surface = "".join(_RICH_TAG.sub("", unit).split()).replace("▁", "")
        if not surface:
            continue
        if end < start:
            return ()
        n = len(surface)
        for i, ch in enumerate(surface):
            chars.append((ch, start + (end - start) * i // n, start + (end - start) * (i + 1) // n))
    if not chars:
        return ()
    out: list[tuple[int, int]] = []
    j, prev_end = 0, chars[0][1]
    for ch in text:
        if j < len(chars) and chars[j][0].casefold() == ch.casefold():
            out.append((chars[j][1] + offset_ms, chars[j][2] + offset_ms))
            prev_end = chars[j][2]
            j += 1
        elif ch.isspace() or unicodedata.category(ch).startswith("P"):
            out.append((prev_end + offset_ms, prev_end + offset_ms))
        else:
            return ()
    return tuple(out) if j == len(chars) else ()

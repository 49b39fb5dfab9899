"""Lexicon sentiment for call-center Mandarin, per segment and per role. No Django here.

Scoring a text (``score_text``):

1. The text is cut into sentences (。！？；) and clauses (，、：), and each clause
   into words with jieba. Every lexicon entry is added to a private jieba
   dictionary, so call-center phrases (什么破银行, 怎么回事) come out as one word.
2. A sentiment word (``lexicon/*.txt``) contributes its weight, multiplied by the
   degree adverbs (太 2.0 … 有点 0.7) and negators in front of it within three
   words of the same clause. One negator flips the sign; a negated *negative*
   word keeps 0.3 of its weight (不贵 is faint praise, 我不是要投诉 is neutral).
   Two negators cancel but hedge: 不是不满意 scores +0.25 × 满意 = +0.2, i.e.
   neutral ("it's not that I'm unhappy" is not praise). 都没有/也没有 after a
   positive word negate it (一点耐心都没有). A word jieba knows but the lexicon
   does not, made of negator/degree + a lexicon word (太差, 不满意), is split.
3. Back-channels (好/行/嗯/好的, ``assent.txt``) are nearly neutral (0 … 0.1);
   only a degree adverb or negator makes 好 count as 好 (挺好 +, 不好 −).
   Politeness such as 麻烦您/不客气/没有了 is shielded to ~0.
4. Per sentence: 转折 (但是/可是/不过) halves the clauses before it; "！" scales the
   sentence by 1.5; "？" scales a *negative* sentence by 1.3 (rhetorical
   complaint). An apology (不好意思/别介意) is mildly positive, and in its sentence
   the negative words before any 转折 count 0.3 (a customer apologising for
   their own tone: 刚才不好意思，我也是着急).
5. ``score = tanh(sum)``, plus the acoustic emotion tag when the ASR gave one:
   angry −0.6, disgusted −0.5, sad −0.35, fearful −0.3, happy +0.4 (neutral,
   surprised, unknown, "": 0), clipped to [−1, 1]. The tag is *added*, so a
   missing tag never dilutes the words; a tag alone gives its label, and clear
   words outweigh a contradicting tag only partly (谢谢 + angry → −0.18, neutral).
   SenseVoice tags on 8 kHz telephone audio are noisy, hence weights below the
   strongest words.
6. Label: score ≥ 0.3 positive, ≤ −0.3 negative, else neutral.

A role's window (first/last ``turns`` segments of that role, or all of them; a
turn is one segment) scores ``window_score``: the sum of the segment scores over
1 + Σ min(1, |score| / 0.3). Clear cues are averaged; back-channels (嗯/好的/没有了,
|score| ≤ 0.1) barely dilute them and cannot add up to a label on their own.

The lexicon is read once at import; the jieba dictionary is built once per process
on first use or by ``warm_up()`` (about a second; jieba's log lines are silenced).
Scoring is linear in the text length, a call linear in its segments.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jieba

from analytics.rules.types import ROLE_AGENT, ROLE_CUSTOMER, Call, Evidence, OperatorResult, Seg
from qa_i18n import msg

_T = TypeVar("_T")
LEXICON_DIR = Path(__file__).with_name("lexicon")
POSITIVE_THRESHOLD = 0.3
NEGATIVE_THRESHOLD = -0.3
EMOTION_WEIGHTS = {"angry": -0.6, "disgusted": -0.5, "sad": -0.35, "fearful": -0.3, "happy": 0.4}
LABELS = ("negative", "neutral", "positive")
SCOPES = ("start", "end", "overall", "drop")
_SPEC_KEYS = frozenset(
    {"type", "role", "scope", "label", "turns"} | {"id", "name", "description", "comment", "note"}
)
_WINDOW = 3  # a negator/degree adverb reaches this many words ahead
_BEARING = 0.1
# Evidence notes: one template per role, label and detail. "客户情绪负面（-0.45）", with the words
# that carried it ("…：破银行、投诉"), with the voice emotion tag that agreed ("…；语音情绪 angry"),
# or both. Called with every parameter; a template uses the ones it names.
_MOOD_NOTES: dict[tuple[str, str, bool, bool], Callable[..., str]] = {
    (ROLE_AGENT, "negative", False, False): lambda **p: msg("坐席情绪负面（{score}）", **p),
    (ROLE_AGENT, "negative", True, False): lambda **p: msg("坐席情绪负面（{score}）：{words}", **p),
    (ROLE_AGENT, "negative", False, True): lambda **p: msg(
        "坐席情绪负面（{score}）；语音情绪 {emotion}", **p
    ),
    (ROLE_AGENT, "negative", True, True): lambda **p: msg(
        "坐席情绪负面（{score}）：{words}；语音情绪 {emotion}", **p
    ),
    (ROLE_AGENT, "neutral", False, False): lambda **p: msg("坐席情绪中性（{score}）", **p),
    (ROLE_AGENT, "neutral", True, False): lambda **p: msg("坐席情绪中性（{score}）：{words}", **p),
    (ROLE_AGENT, "neutral", False, True): lambda **p: msg(
        "坐席情绪中性（{score}）；语音情绪 {emotion}", **p
    ),
    (ROLE_AGENT, "neutral", True, True): lambda **p: msg(
        "坐席情绪中性（{score}）：{words}；语音情绪 {emotion}", **p
    ),
    (ROLE_AGENT, "positive", False, False): lambda **p: msg("坐席情绪正面（{score}）", **p),
    (ROLE_AGENT, "positive", True, False): lambda **p: msg("坐席情绪正面（{score}）：{words}", **p),
    (ROLE_AGENT, "positive", False, True): lambda **p: msg(
        "坐席情绪正面（{score}）；语音情绪 {emotion}", **p
    ),
    (ROLE_AGENT, "positive", True, True): lambda **p: msg(
        "坐席情绪正面（{score}）：{words}；语音情绪 {emotion}", **p
    ),
    (ROLE_CUSTOMER, "negative", False, False): lambda **p: msg("客户情绪负面（{score}）", **p),
    (ROLE_CUSTOMER, "negative", True, False): lambda **p: msg(
        "客户情绪负面（{score}）：{words}", **p
    ),
    (ROLE_CUSTOMER, "negative", False, True): lambda **p: msg(
        "客户情绪负面（{score}）；语音情绪 {emotion}", **p
    ),
    (ROLE_CUSTOMER, "negative", True, True): lambda **p: msg(
        "客户情绪负面（{score}）：{words}；语音情绪 {emotion}", **p
    ),
    (ROLE_CUSTOMER, "neutral", False, False): lambda **p: msg("客户情绪中性（{score}）", **p),
    (ROLE_CUSTOMER, "neutral", True, False): lambda **p: msg(
        "客户情绪中性（{score}）：{words}", **p
    ),
    (ROLE_CUSTOMER, "neutral", False, True): lambda **p: msg(
        "客户情绪中性（{score}）；语音情绪 {emotion}", **p
    ),
    (ROLE_CUSTOMER, "neutral", True, True): lambda **p: msg(
        "客户情绪中性（{score}）：{words}；语音情绪 {emotion}", **p
    ),
    (ROLE_CUSTOMER, "positive", False, False): lambda **p: msg("客户情绪正面（{score}）", **p),
    (ROLE_CUSTOMER, "positive", True, False): lambda **p: msg(
        "客户情绪正面（{score}）：{words}", **p
    ),
    (ROLE_CUSTOMER, "positive", False, True): lambda **p: msg(
        "客户情绪正面（{score}）；语音情绪 {emotion}", **p
    ),
    (ROLE_CUSTOMER, "positive", True, True): lambda **p: msg(
        "客户情绪正面（{score}）：{words}；语音情绪 {emotion}", **p
    ),
}
_SENTENCE = re.compile(r"[^。！？!?；;…]+[。！？!?；;…]*")
_CLAUSE = re.compile(r"[^，,、：:\s~～。！？!?；;…]+")


def _read(name: str) -> dict[str, float]:
    entries: dict[str, float] = {}
    for line in (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            entries[fields[0]] = float(fields[1]) if len(fields) > 1 else 1.0
    return entries


_WORDS: dict[str, float] = {
    **_read("positive.txt"),
    **{word: -weight for word, weight in _read("negative.txt").items()},
    **_read("callcenter.txt"),
}
_ASSENT = _read("assent.txt")
_NEGATORS = _read("negators.txt")
_POST_NEGATORS = _read("post_negators.txt")
_DEGREE = _read("degree.txt")
_CONTRAST = frozenset(_read("contrast.txt"))
_APOLOGY = _read("apology.txt")
_VOCABULARY = sorted(
    set(_WORDS)
    | set(_ASSENT)
    | set(_NEGATORS)
    | set(_POST_NEGATORS)
    | set(_DEGREE)
    | _CONTRAST
    | set(_APOLOGY)
)

_KNOWN = frozenset(_VOCABULARY)

_tokenizer: jieba.Tokenizer | None = None
_tokenizer_lock = threading.Lock()


def _jieba() -> jieba.Tokenizer:
    """A private jieba dictionary with every lexicon entry, built once per process."""
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            jieba.setLogLevel(logging.WARNING)  # "Building prefix dict ..." is noise
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for word in _VOCABULARY:
                tokenizer.add_word(word, freq=max(tokenizer.suggest_freq(word), 20_000))
            _tokenizer = tokenizer
        return _tokenizer


def warm_up() -> None:
    """Build the jieba dictionary now (e.g. when a worker starts) instead of on first use."""
    _jieba()


@dataclass(frozen=True)
class _Hit:
    word: str
    start: int
    end: int
    weight: float


def _split_modifier(word: str) -> tuple[str, str] | None:
    # 太差 → (太, 差), 不满意 → (不, 满意): jieba knows these, the lexicon knows the parts.
    for cut in (1, 2):
        head, rest = word[:cut], word[cut:]
        if rest and (head in _NEGATORS or head in _DEGREE) and (rest in _WORDS or rest in _ASSENT):
            return head, rest
    return None


def _clause_hits(clause: str, offset: int) -> tuple[list[_Hit], bool]:
    """Weighted sentiment words of one clause, and whether it holds a 转折 word."""
    hits: list[_Hit] = []
    negation, negators, degree, last_modifier = 1.0, 0, 1.0, -_WINDOW - 1
    last_hit_index = -_WINDOW - 1
    tokens: list[tuple[str, int, int]] = []
    for word, start, end in _jieba().tokenize(clause, HMM=False):
        if word not in _KNOWN and (parts := _split_modifier(word)):
            cut = len(parts[0])
            tokens += [(parts[0], start, start + cut), (parts[1], start + cut, end)]
        else:
            tokens.append((word, start, end))
    for index, (word, start, end) in enumerate(tokens):
        if index - last_modifier > _WINDOW:
            negation, negators, degree = 1.0, 0, 1.0
        if word in _APOLOGY:
            hits.append(_Hit(word, offset + start, offset + end, _APOLOGY[word]))
            continue
        if word in _POST_NEGATORS:
            if hits and index - last_hit_index <= _WINDOW and hits[-1].weight > 0:
                prev = hits[-1]
                hits[-1] = _Hit(
                    prev.word + word, prev.start, offset + end, prev.weight * _POST_NEGATORS[word]
                )
            continue
        if word in _NEGATORS and word not in _WORDS:
            negation, negators, last_modifier = negation * _NEGATORS[word], negators + 1, index
            continue
        if word in _DEGREE and word not in _WORDS:
            degree, last_modifier = degree * _DEGREE[word], index
            continue
        modified = degree != 1.0 or negators > 0
        if word in _WORDS and (modified or word not in _ASSENT):
            weight = _WORDS[word]
        elif word in _ASSENT:
            weight = _ASSENT[word]
        else:
            continue
        if negators == 1 or (negators > 1 and negation < 0):
            weight *= negation * (0.3 if weight < 0 else 1.0)
        elif negators > 1:
            weight *= 0.25  # 不是不满意: hedged, not praise
        hits.append(_Hit(word, offset + start, offset + end, weight * degree))
        negation, negators, degree, last_modifier = 1.0, 0, 1.0, -_WINDOW - 1
        last_hit_index = index
    return hits, any(word in _CONTRAST for word, _start, _end in tokens)


def _analyse(text: str) -> tuple[float, list[_Hit]]:
    """Raw (unbounded) lexicon score of ``text`` and the words behind it."""
    total, all_hits = 0.0, []
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group().rstrip("。！？!?；;…")
        ending = sentence.group()[len(body) :]
        clauses = [
            _clause_hits(c.group(), sentence.start() + c.start()) for c in _CLAUSE.finditer(body)
        ]
        # Clauses before the first 转折 count half; an apology there softens the negatives.
        turn = next((i for i, (_hits, contrast) in enumerate(clauses) if contrast), len(clauses))
        apology = any(h.word in _APOLOGY for hits, _c in clauses[:turn] for h in hits)
        score = 0.0
        for index, (hits, _contrast) in enumerate(clauses):
            for hit in hits:
                weight = hit.weight
                if index < turn:
                    weight *= 0.3 if apology and weight < 0 else 1.0
                    weight *= 0.5 if turn < len(clauses) else 1.0
                score += weight
                all_hits.append(_Hit(hit.word, hit.start, hit.end, weight))
        if "！" in ending or "!" in ending:
            score *= 1.5
        elif ("？" in ending or "?" in ending) and score < 0:
            score *= 1.3
        total += score
    return total, all_hits


def _label(score: float) -> str:
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    return "negative" if score <= NEGATIVE_THRESHOLD else "neutral"


def _emotion_weight(emotion: str) -> float:
    return EMOTION_WEIGHTS.get(emotion.strip().strip("<|>").lower(), 0.0)


def score_text(text: str, emotion: str = "") -> tuple[float, str]:
    """Sentiment of one utterance: a score in [-1, 1] and its label."""
    raw, _hits = _analyse(text)
    score = max(-1.0, min(1.0, math.tanh(raw) + _emotion_weight(emotion)))
    return round(score, 4), _label(score)


@dataclass(frozen=True)
class SegmentSentiment:
    segment_id: int
    score: float  # -1..1
    label: str  # "negative" | "neutral" | "positive"


@dataclass(frozen=True)
class RoleSentiment:
    start: str
    end: str
    overall: str
    start_score: float
    end_score: float
    overall_score: float


@dataclass(frozen=True)
class CallSentiment:
    segments: tuple[SegmentSentiment, ...]
    by_role: dict[str, RoleSentiment]  # "agent", "customer"


def window_score(scores: Sequence[float]) -> float:
    """Aggregate segment scores: their sum over (1 + how much sentiment they carry).

    A segment counts min(1, |score| / 0.3) in the denominator: clear cues average,
    back-channels (嗯/好的, |score| ≤ 0.1) barely dilute and cannot add up to a label.
    """
    weight = sum(min(1.0, abs(s) / POSITIVE_THRESHOLD) for s in scores)
    return round(sum(scores) / (1 + weight), 4)


def _role_turns(
    call: Call, scores: dict[int, SegmentSentiment], role: str
) -> list[SegmentSentiment]:
    ordered = sorted((s for s in call.segments if s.role == role), key=lambda s: (s.start_ms, s.id))
    return [scores[s.id] for s in ordered]


def _window(turns: list[_T], scope: str, n: int) -> list[_T]:
    if scope == "start":
        return turns[:n]
    if scope == "end":
        return turns[-n:] if n > 0 else []
    return turns


class LazyCallSentiment:
    """The rule engine's view of a call's sentiment: each segment is scored on first use.

    ``evaluate_sentiment`` reads a few turns of one role (the last three customer turns, say),
    so scoring every segment of the call up front, as ``call_sentiment`` does, is mostly wasted.
    A segment's score is exactly what ``call_sentiment`` gives it; with repeated segment ids the
    last segment with the id counts, as in ``call_sentiment``'s lookup by id.
    """

    def __init__(self, call: Call) -> None:
        self._segments = {s.id: s for s in call.segments}
        self._scores: dict[int, SegmentSentiment] = {}

    def score(self, segment_id: int) -> SegmentSentiment:
        found = self._scores.get(segment_id)
        if found is None:
            seg = self._segments[segment_id]
            found = SegmentSentiment(seg.id, *score_text(seg.text, seg.emotion))
            self._scores[segment_id] = found
        return found


def lazy_call_sentiment(call: Call) -> LazyCallSentiment:
    return LazyCallSentiment(call)


def call_sentiment(call: Call, *, end_turns: int = 3) -> CallSentiment:
    """Every segment's sentiment, and per role the start/end/overall labels."""
    segments = tuple(SegmentSentiment(s.id, *score_text(s.text, s.emotion)) for s in call.segments)
    by_id = {s.segment_id: s for s in segments}
    by_role: dict[str, RoleSentiment] = {}
    for role in (ROLE_AGENT, ROLE_CUSTOMER):
        turns = _role_turns(call, by_id, role)
        start, end, overall = (
            window_score([t.score for t in _window(turns, scope, end_turns)])
            for scope in ("start", "end", "overall")
        )
        by_role[role] = RoleSentiment(
            _label(start), _label(end), _label(overall), start, end, overall
        )
    return CallSentiment(segments=segments, by_role=by_role)


def _one_of(key: str, allowed: Sequence[str]) -> str:
    return msg("参数 {key} 必须是 {options} 之一", key=key, options="、".join(allowed))


def validate_sentiment(spec: dict[str, Any]) -> list[str]:
    """Chinese messages for everything wrong with a sentiment operator; ``[]`` when fine."""
    if not isinstance(spec, dict):
        return [msg("算子定义必须是 JSON 对象")]
    errors = []
    if spec.get("type") != "sentiment":
        errors.append(msg("算子类型 type 必须是 sentiment"))
    errors += [
        msg("算子 sentiment 不支持参数「{key}」", key=key) for key in spec if key not in _SPEC_KEYS
    ]
    if spec.get("role", ROLE_CUSTOMER) not in (ROLE_AGENT, ROLE_CUSTOMER):
        errors.append(_one_of("role", (ROLE_AGENT, ROLE_CUSTOMER)))
    if spec.get("scope", "end") not in SCOPES:
        errors.append(_one_of("scope", SCOPES))
    if "label" in spec and spec["label"] not in LABELS:
        errors.append(_one_of("label", LABELS))
    if "label" not in spec and spec.get("scope", "end") != "drop":
        errors.append(msg("缺少参数 label（negative、neutral、positive）"))
    turns = spec.get("turns", 3)
    if not isinstance(turns, int) or isinstance(turns, bool) or turns < 1:
        errors.append(msg("参数 {key} 必须是不小于 {low} 的整数", key="turns", low=1))
    return errors


def _evidence(
    call: Call, window: list[SegmentSentiment], label: str, role: str, part: str = ""
) -> list[Evidence]:
    """The segments that pushed ``window`` towards ``label`` (all of it for neutral).

    ``part`` is "start" or "end" when the notes should say which part of the call it is."""
    sign = {"negative": -1, "positive": 1}.get(label, 0)
    drivers = [s for s in window if s.score * sign >= _BEARING] if sign else list(window)
    drivers.sort(key=lambda s: -abs(s.score) * abs(sign))
    segs = {s.id: s for s in call.segments}
    evidence = []
    for item in drivers:
        seg: Seg = segs[item.segment_id]
        hits = [h for h in _analyse(seg.text)[1] if h.weight * sign > 0]  # none for neutral
        words = "、".join(dict.fromkeys(h.word for h in hits))
        emotion = seg.emotion if sign and _emotion_weight(seg.emotion) * sign > 0 else ""
        note = _MOOD_NOTES[role, item.label, bool(words), bool(emotion)](
            score=f"{item.score:+.2f}", words=words, emotion=emotion
        )
        if part == "start":
            note = msg("开头{note}", note=note)
        elif part == "end":
            note = msg("结尾{note}", note=note)
        top = max(hits, key=lambda h: abs(h.weight)) if hits else None
        evidence.append(Evidence(
            segment_id=seg.id, char_start=top.start if top else 0,
            char_end=top.end if top else len(seg.text), start_ms=seg.start_ms,
            end_ms=seg.end_ms, text=top.word if top else seg.text, note=note,
        ))  # fmt: skip
    return evidence


def _role_windows(
    call: Call, sentiment: CallSentiment | LazyCallSentiment, role: str, turns: int,
    scopes: Sequence[str],
) -> list[list[SegmentSentiment]] | None:
    """The role's turns in each scope's window, scored; None when the role never speaks."""
    if isinstance(sentiment, LazyCallSentiment):
        ordered = sorted(
            (s for s in call.segments if s.role == role), key=lambda s: (s.start_ms, s.id)
        )
        if not ordered:
            return None
        return [[sentiment.score(s.id) for s in _window(ordered, scope, turns)] for scope in scopes]
    by_id = {s.segment_id: s for s in sentiment.segments}
    role_turns = _role_turns(call, by_id, role)
    if not role_turns:
        return None
    return [_window(role_turns, scope, turns) for scope in scopes]


def evaluate_sentiment(
    spec: dict[str, Any], call: Call, sentiment: CallSentiment | LazyCallSentiment
) -> OperatorResult:
    """Does the role's sentiment in ``scope`` have ``label``? ``drop``: start better than end."""
    errors = validate_sentiment(spec)
    if errors:
        raise ValueError("；".join(errors))
    role, scope = spec.get("role", ROLE_CUSTOMER), spec.get("scope", "end")
    turns = spec.get("turns", 3)
    windows = _role_windows(call, sentiment, role, turns,
                            ("start", "end") if scope == "drop" else (scope,))  # fmt: skip
    if windows is None:
        return OperatorResult(matched=False, values={"applicable": 0.0})
    rank = {label: i for i, label in enumerate(LABELS)}
    if scope == "drop":
        start_w, end_w = windows
        start_score = window_score([s.score for s in start_w])
        end_score = window_score([s.score for s in end_w])
        start_label, end_label = _label(start_score), _label(end_score)
        matched = rank[start_label] > rank[end_label] and spec.get("label", end_label) == end_label
        evidence = []
        if matched:
            evidence = _evidence(call, start_w, start_label, role, "start") + _evidence(
                call, end_w, end_label, role, "end"
            )
        values = {"applicable": 1.0, "start_score": start_score, "end_score": end_score,
                  "drop": round(start_score - end_score, 4)}  # fmt: skip
        return OperatorResult(matched, tuple(evidence), values)
    window = windows[0]
    score = window_score([s.score for s in window])
    matched = _label(score) == spec["label"]
    evidence = _evidence(call, window, spec["label"], role) if matched else []
    return OperatorResult(
        matched=matched,
        evidence=tuple(evidence),
        values={"applicable": 1.0, "score": score, "turns": float(len(window))},
    )

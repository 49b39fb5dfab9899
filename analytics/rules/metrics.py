"""Timing and structure operators over plain call data. No Django here.

Every operator is a JSON object with a ``type`` (see ``METRIC_TYPES``); every
threshold has a default, so ``{"type": "silence"}`` is a valid spec. Comparisons
are strict: a 10,000 ms gap is *not* a silence of "more than 10 s".

* ``silence``      ``min_ms`` (10000), ``after`` any|customer|agent, ``include_edges`` (false).
  A gap is time in which nobody speaks: the union of all segments' intervals is
  taken first, so overlapping speech never creates a false gap. ``after:
  "customer"`` keeps gaps whose preceding speech ended with a customer segment
  (the agent took long to answer). Leading/trailing silence (before the first
  or after the last segment) only counts with ``include_edges``.
* ``interruption`` ``role`` (agent) interrupts the other role: a segment of
  ``role`` starts strictly after and before the end of an other-role segment,
  overlaps it by more than ``min_overlap_ms`` (1000) and carries at least
  ``min_chars`` (4) characters. Mono calls: not matched, ``{"applicable": 0}``.
* ``speech_rate``  ``role`` (agent), ``max_cpm`` (300), ``per`` average|sentence,
  ``min_segment_ms`` (2000, only for ``sentence``). Matched when the rate is above
  ``max_cpm``. ``average`` = the role's characters / its summed segment minutes.
* ``duration``     ``min_s``/``max_s`` (at least one), ``match`` outside|inside.
* ``talk_ratio``   ``role`` (agent), ``min``/``max`` share 0..1 (at least one),
  ``match`` outside|inside. A role's time is the union of its segments; the
  share is over the sum of every role's time.
  For both: ``outside`` (default) matches when the value is below ``min`` or
  above ``max`` (the bounds are what is acceptable, like ``max_cpm``);
  ``inside`` matches when ``min <= value <= max``.
* ``latency``      ``max_ms`` (5000), ``stat`` max|mean. Latency is measured from
  the end of a customer turn (consecutive customer segments) to the start of the
  next agent segment; 0 when the agent started before the customer finished.
* ``repetition``   ``role`` (customer), ``times`` (3), ``similarity`` (0.6),
  ``min_chars`` (4), ``method`` bigram|difflib, ``lookback`` (20). Turns are
  normalised (punctuation, spaces and fillers 嗯呃啊哦噢喂 dropped); turns shorter
  than ``min_chars`` are ignored. ``bigram`` similarity is the Jaccard index of
  the two turns' character-bigram sets (order-insensitive, linear time);
  ``difflib`` is ``SequenceMatcher.ratio()``. Each turn is compared with the
  role's previous ``lookback`` turns (so a call costs O(segments)); matched when a
  turn plus the earlier turns similar to it number at least ``times``. Bigram
  Jaccard 0.6 means near-verbatim repeats (我要退年费 / 我要退年费啊); paraphrases
  of one request typically score 0.2-0.4 (difflib 0.5-0.7).

Evidence: gaps and latencies are time spans (``segment_id`` None, or the agent's
answer for latency); interruptions, fast sentences and repeats point at their
segments. ``values`` always carry the measured numbers (``max_gap_ms``,
``rate_cpm``, ``share``, ``max_ms``/``mean_ms``, ``max_repeats`` …), matched or not.

Characters are counted without punctuation and whitespace (Unicode P*, Z*, C*).
Keys ``id``, ``name``, ``description``, ``comment`` and ``note`` are accepted and ignored.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from analytics.rules.types import (
    ROLE_AGENT,
    ROLE_ANY,
    ROLE_CUSTOMER,
    Call,
    Evidence,
    OperatorResult,
    Seg,
)
from qa_i18n import msg

METRIC_TYPES: frozenset[str] = frozenset(
    {"silence", "interruption", "speech_rate", "duration", "talk_ratio", "latency", "repetition"}
)

_META_KEYS = frozenset({"type", "id", "name", "description", "comment", "note"})
_ROLES = (ROLE_AGENT, ROLE_CUSTOMER, ROLE_ANY)
_FILLERS = frozenset("嗯呃啊哦噢喂")
_MAX_EVIDENCE = 20

# Parameter kinds: "ms"/"num" non-negative number, "pos" positive number, "count"
# non-negative int, "times" int >= 2, "ratio" number in [0, 1], "bool", "role",
# "role2" (agent|customer) or a tuple of allowed strings.
# fmt: off
_SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "silence": {"min_ms": ("ms", 10_000), "after": (("any", "customer", "agent"), "any"),
                "include_edges": ("bool", False)},
    "interruption": {"role": ("role", ROLE_AGENT), "min_overlap_ms": ("ms", 1000),
                     "min_chars": ("count", 4)},
    "speech_rate": {"role": ("role", ROLE_AGENT), "max_cpm": ("pos", 300),
                    "per": (("average", "sentence"), "average"), "min_segment_ms": ("ms", 2000)},
    "duration": {"min_s": ("num", None), "max_s": ("num", None),
                 "match": (("outside", "inside"), "outside")},
    "talk_ratio": {"role": ("role2", ROLE_AGENT), "min": ("ratio", None), "max": ("ratio", None),
                   "match": (("outside", "inside"), "outside")},
    "latency": {"max_ms": ("ms", 5000), "stat": (("max", "mean"), "max")},
    "repetition": {"role": ("role", ROLE_CUSTOMER), "times": ("times", 3),
                   "similarity": ("ratio", 0.6), "min_chars": ("count", 4),
                   "method": (("bigram", "difflib"), "bigram"), "lookback": ("times", 20)},
}
# fmt: on
_BOUNDS = {"duration": ("min_s", "max_s"), "talk_ratio": ("min", "max")}


class _Unspoken(dict[int, str | None]):
    """str.translate table dropping punctuation, spaces, control characters (Unicode P*, Z*,
    C*) and `drop`; each character's category is looked up once, on first sight."""

    def __init__(self, drop: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self._drop = drop

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        kept = None if char in self._drop or unicodedata.category(char)[0] in "PZC" else char
        self[code] = kept
        return kept


_SPOKEN = _Unspoken()


def spoken_chars(text: str) -> int:
    """Characters that are spoken: punctuation, spaces and control characters excluded."""
    return len(text.translate(_SPOKEN))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# One template per operator type: "算子 {kind} …" would also match (and garble) the message
# as the rule editor shows it, "算子 2：算子 silence 不支持参数「x」".
_UNKNOWN_PARAMETER: dict[str, Callable[[str], str]] = {
    "silence": lambda key: msg("算子 silence 不支持参数「{key}」", key=key),
    "interruption": lambda key: msg("算子 interruption 不支持参数「{key}」", key=key),
    "speech_rate": lambda key: msg("算子 speech_rate 不支持参数「{key}」", key=key),
    "duration": lambda key: msg("算子 duration 不支持参数「{key}」", key=key),
    "talk_ratio": lambda key: msg("算子 talk_ratio 不支持参数「{key}」", key=key),
    "latency": lambda key: msg("算子 latency 不支持参数「{key}」", key=key),
    "repetition": lambda key: msg("算子 repetition 不支持参数「{key}」", key=key),
}


def _one_of(key: str, allowed: tuple[str, ...]) -> str:
    return msg("参数 {key} 必须是 {options} 之一", key=key, options="、".join(allowed))


def _check_param(key: str, kind: Any, value: object) -> str | None:
    if isinstance(kind, tuple):
        return None if value in kind else _one_of(key, kind)
    if kind == "bool":
        return None if isinstance(value, bool) else msg("参数 {key} 必须是 true 或 false", key=key)
    if kind in ("role", "role2"):
        allowed = _ROLES if kind == "role" else (ROLE_AGENT, ROLE_CUSTOMER)
        return None if value in allowed else _one_of(key, allowed)
    if kind in ("count", "times"):
        low = 2 if kind == "times" else 0
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return None if ok else msg("参数 {key} 必须是不小于 {low} 的整数", key=key, low=low)
    if not _is_number(value):
        return msg("参数 {key} 必须是数字", key=key)
    number = float(value)  # type: ignore[arg-type]
    if kind == "ratio" and not 0 <= number <= 1:
        return msg("参数 {key} 必须在 0 到 1 之间", key=key)
    if kind == "pos" and number <= 0:
        return msg("参数 {key} 必须大于 0", key=key)
    if number < 0:
        return msg("参数 {key} 不能为负数", key=key)
    return None


def validate_metric(spec: dict[str, Any]) -> list[str]:
    """Chinese messages for everything wrong with ``spec``; ``[]`` when it is fine."""
    if not isinstance(spec, Mapping):
        return [msg("算子定义必须是 JSON 对象")]
    kind = spec.get("type")
    if kind not in METRIC_TYPES:
        options = "、".join(sorted(METRIC_TYPES))
        if kind:
            return [msg("未知的算子类型「{kind}」，可选：{options}", kind=kind, options=options)]
        return [msg("缺少算子类型 type，可选：{options}", options=options)]
    schema = _SCHEMA[kind]
    errors = [
        _UNKNOWN_PARAMETER[kind](key) for key in spec if key not in schema and key not in _META_KEYS
    ]
    for key, (param_kind, _default) in schema.items():
        if key in spec and (error := _check_param(key, param_kind, spec[key])):
            errors.append(error)
    if kind in _BOUNDS and not errors:
        low_key, high_key = _BOUNDS[kind]
        low, high = spec.get(low_key), spec.get(high_key)
        duration = kind == "duration"
        if low is None and high is None:
            if duration:
                errors.append(msg("算子 duration 至少需要 min_s 或 max_s 之一"))
            else:
                errors.append(msg("算子 talk_ratio 至少需要 min 或 max 之一"))
        elif low is not None and high is not None and low > high:
            errors.append(msg("min_s 不能大于 max_s") if duration else msg("min 不能大于 max"))
    return errors


def evaluate_metric(spec: dict[str, Any], call: Call) -> OperatorResult:
    """Run one metric operator on ``call``. Raises ``ValueError`` for an invalid spec."""
    errors = validate_metric(spec)
    if errors:
        raise ValueError("；".join(errors))
    params = {
        key: spec.get(key, default) for key, (_kind, default) in _SCHEMA[spec["type"]].items()
    }
    return _OPERATORS[spec["type"]](params, call)


_last_sorted: tuple[Call, tuple[Seg, ...]] | None = None


def _sorted(call: Call) -> tuple[Seg, ...]:
    """The call's segments in time order; the metric operators of one call share one sort."""
    global _last_sorted
    last = _last_sorted
    if last is not None and last[0] is call:
        return last[1]
    ordered = tuple(sorted(call.segments, key=lambda s: (s.start_ms, s.end_ms, s.id)))
    _last_sorted = (call, ordered)
    return ordered


def _role_matches(seg: Seg, role: str) -> bool:
    return role == ROLE_ANY or seg.role == role


def _sec(ms: float) -> str:
    return f"{ms / 1000:.1f}"


def _time_evidence(start_ms: int, end_ms: int, note: str, seg_id: int | None = None) -> Evidence:
    return Evidence(segment_id=seg_id, start_ms=start_ms, end_ms=end_ms, note=note)


def _seg_evidence(seg: Seg, note: str, end_ms: int | None = None) -> Evidence:
    end = seg.end_ms if end_ms is None else end_ms
    return Evidence(
        segment_id=seg.id,
        char_start=0,
        char_end=len(seg.text),
        start_ms=seg.start_ms,
        end_ms=end,
        text=seg.text,
        note=note,
    )


def _silence(p: dict[str, Any], call: Call) -> OperatorResult:
    gaps: list[tuple[int, int, Seg | None]] = []  # start, end, the segment that ended before
    last: Seg | None = None
    covered_to = 0
    for seg in _sorted(call):
        if last is None:
            if p["include_edges"] and seg.start_ms > 0:
                gaps.append((0, seg.start_ms, None))
        elif seg.start_ms > covered_to:
            gaps.append((covered_to, seg.start_ms, last))
        if last is None or seg.end_ms > covered_to:
            covered_to, last = max(seg.end_ms, seg.start_ms), seg
    if p["include_edges"] and last is not None and call.duration_ms > covered_to:
        gaps.append((covered_to, call.duration_ms, last))
    if p["after"] != "any":
        gaps = [g for g in gaps if g[2] is not None and g[2].role == p["after"]]
    long_gaps = [g for g in gaps if g[1] - g[0] > p["min_ms"]]
    evidence = tuple(
        _time_evidence(start, end, _silence_note(p["after"], _sec(end - start)))
        for start, end, _ in long_gaps[:_MAX_EVIDENCE]
    )
    values = {
        "max_gap_ms": float(max((g[1] - g[0] for g in gaps), default=0)),
        "count": float(len(long_gaps)),
        "total_ms": float(sum(g[1] - g[0] for g in long_gaps)),
    }
    return OperatorResult(matched=bool(long_gaps), evidence=evidence, values=values)


def _silence_note(after: str, seconds: str) -> str:
    if after == ROLE_CUSTOMER:
        return msg("客户说完后静音 {seconds} 秒", seconds=seconds)
    if after == ROLE_AGENT:
        return msg("坐席说完后静音 {seconds} 秒", seconds=seconds)
    return msg("静音 {seconds} 秒", seconds=seconds)


def _interruption(p: dict[str, Any], call: Call) -> OperatorResult:
    if call.channel_layout == "mono":
        return OperatorResult(matched=False, values={"applicable": 0.0})
    segs = _sorted(call)
    speaking: dict[str, Seg] = {}  # per role, the segment started so far that ends last
    evidence: list[Evidence] = []
    max_overlap = pointer = 0
    for seg in segs:
        # Only segments that started strictly earlier can be interrupted by `seg`.
        while pointer < len(segs) and segs[pointer].start_ms < seg.start_ms:
            prior = segs[pointer]
            if prior.role not in speaking or prior.end_ms > speaking[prior.role].end_ms:
                speaking[prior.role] = prior
            pointer += 1
        if not _role_matches(seg, p["role"]) or seg.role not in (ROLE_AGENT, ROLE_CUSTOMER):
            continue
        victims = [v for role, v in speaking.items() if role not in (seg.role, "unknown")]
        if not victims:
            continue
        victim = max(victims, key=lambda v: v.end_ms)
        overlap = min(seg.end_ms, victim.end_ms) - seg.start_ms
        max_overlap = max(max_overlap, overlap)
        if overlap > p["min_overlap_ms"] and spoken_chars(seg.text) >= p["min_chars"]:
            # `seg` is an agent or customer segment and its victim one of the other role.
            if seg.role == ROLE_AGENT:
                note = msg("坐席在客户讲话时插话，重叠 {seconds} 秒", seconds=_sec(overlap))
            else:
                note = msg("客户在坐席讲话时插话，重叠 {seconds} 秒", seconds=_sec(overlap))
            evidence.append(_seg_evidence(seg, note, end_ms=seg.start_ms + overlap))
    values = {
        "applicable": 1.0,
        "count": float(len(evidence)),
        "max_overlap_ms": float(max_overlap),
    }
    return OperatorResult(bool(evidence), tuple(evidence[:_MAX_EVIDENCE]), values)


def _cpm(chars: int, ms: int) -> float:
    return chars * 60_000 / ms if ms > 0 else 0.0


def _speech_rate(p: dict[str, Any], call: Call) -> OperatorResult:
    segs = [s for s in _sorted(call) if _role_matches(s, p["role"]) and s.end_ms > s.start_ms]
    spoken = [spoken_chars(s.text) for s in segs]
    chars = sum(spoken)
    ms = sum(s.end_ms - s.start_ms for s in segs)
    average = _cpm(chars, ms)
    rated = [(s, _cpm(n, s.end_ms - s.start_ms)) for s, n in zip(segs, spoken, strict=True)
             if s.end_ms - s.start_ms >= p["min_segment_ms"]]  # fmt: skip
    fast = sorted((r for r in rated if r[1] > p["max_cpm"]), key=lambda r: -r[1])
    role = p["role"]
    evidence: list[Evidence] = []
    matched = average > p["max_cpm"] if p["per"] == "average" else bool(fast)
    if matched and p["per"] == "average":
        note = _average_rate_note(role, f"{average:.0f}", f"{p['max_cpm']:g}")
        evidence.append(_time_evidence(segs[0].start_ms, segs[-1].end_ms, note))
        fast = fast[:3]  # the fastest sentences, as examples
    if matched:
        evidence += [
            _seg_evidence(s, _rate_note(role, f"{r:.0f}")) for s, r in fast[:_MAX_EVIDENCE]
        ]
    values = {
        "rate_cpm": round(average, 2),
        "chars": float(chars),
        "speech_ms": float(ms),
        "max_segment_cpm": round(max((r for _, r in rated), default=0.0), 2),
    }
    return OperatorResult(matched, tuple(evidence), values)


def _average_rate_note(role: str, rate: str, limit: str) -> str:
    if role == ROLE_AGENT:
        return msg("坐席平均语速 {rate} 字/分钟（上限 {limit}）", rate=rate, limit=limit)
    if role == ROLE_CUSTOMER:
        return msg("客户平均语速 {rate} 字/分钟（上限 {limit}）", rate=rate, limit=limit)
    return msg("说话人平均语速 {rate} 字/分钟（上限 {limit}）", rate=rate, limit=limit)


def _rate_note(role: str, rate: str) -> str:
    if role == ROLE_AGENT:
        return msg("坐席语速 {rate} 字/分钟", rate=rate)
    if role == ROLE_CUSTOMER:
        return msg("客户语速 {rate} 字/分钟", rate=rate)
    return msg("说话人语速 {rate} 字/分钟", rate=rate)


def _bounded(value: float, p: dict[str, Any], low: str, high: str) -> tuple[bool, str]:
    """(matched, "" | "below" | "above") for the duration/talk_ratio bounds."""
    below = p[low] is not None and value < p[low]
    above = p[high] is not None and value > p[high]
    matched = (below or above) != (p["match"] == "inside")
    return matched, "below" if below else "above" if above else ""


def _duration(p: dict[str, Any], call: Call) -> OperatorResult:
    duration_ms = call.duration_ms if call.duration_ms > 0 else call.end_ms
    seconds = duration_ms / 1000
    matched, side = _bounded(seconds, p, "min_s", "max_s")
    shown = f"{seconds:.1f}"
    if side == "below":
        note = msg("通话时长 {seconds} 秒（短于 {min} 秒）", seconds=shown, min=f"{p['min_s']:g}")
    elif side == "above":
        note = msg("通话时长 {seconds} 秒（长于 {max} 秒）", seconds=shown, max=f"{p['max_s']:g}")
    else:
        note = msg("通话时长 {seconds} 秒", seconds=shown)
    evidence = (_time_evidence(0, duration_ms, note),) if matched else ()
    return OperatorResult(matched, evidence, {"duration_s": seconds})


def _union_ms(segs: list[Seg]) -> int:
    total, covered_to = 0, -1
    for seg in segs:  # sorted by start
        start, end = max(seg.start_ms, covered_to), seg.end_ms
        total += max(0, end - start)
        covered_to = max(covered_to, end)
    return total


def _talk_ratio(p: dict[str, Any], call: Call) -> OperatorResult:
    by_role: dict[str, list[Seg]] = {}
    for seg in _sorted(call):
        by_role.setdefault(seg.role, []).append(seg)
    times = {role: _union_ms(segs) for role, segs in by_role.items()}
    total, own = sum(times.values()), times.get(p["role"], 0)
    if total <= 0:
        return OperatorResult(matched=False, values={"applicable": 0.0, "share": 0.0})
    share = own / total
    matched, side = _bounded(share, p, "min", "max")
    note = _share_note(p["role"], f"{share:.0%}", side, p)
    evidence = (_time_evidence(0, call.end_ms, note),) if matched else ()
    values = {"applicable": 1.0, "share": round(share, 4), "role_ms": float(own),
              "speech_ms": float(total)}  # fmt: skip
    return OperatorResult(matched, evidence, values)


def _share_note(role: str, share: str, side: str, p: dict[str, Any]) -> str:
    """The talk_ratio note; `role` is agent or customer (validated as "role2")."""
    if role == ROLE_AGENT:
        if side == "below":
            return msg("坐席说话时长占比 {share}（低于 {min}）", share=share, min=f"{p['min']:.0%}")
        if side == "above":
            return msg("坐席说话时长占比 {share}（高于 {max}）", share=share, max=f"{p['max']:.0%}")
        return msg("坐席说话时长占比 {share}", share=share)
    if side == "below":
        return msg("客户说话时长占比 {share}（低于 {min}）", share=share, min=f"{p['min']:.0%}")
    if side == "above":
        return msg("客户说话时长占比 {share}（高于 {max}）", share=share, max=f"{p['max']:.0%}")
    return msg("客户说话时长占比 {share}", share=share)


def _latency(p: dict[str, Any], call: Call) -> OperatorResult:
    waits: list[tuple[int, int, Seg]] = []  # customer turn end, agent start, agent segment
    pending_end: int | None = None
    for seg in _sorted(call):
        if seg.role == ROLE_CUSTOMER:
            pending_end = max(pending_end or 0, seg.end_ms)
        elif seg.role == ROLE_AGENT and pending_end is not None:
            waits.append((pending_end, max(seg.start_ms, pending_end), seg))
            pending_end = None
    if not waits:
        return OperatorResult(matched=False, values={"applicable": 0.0, "count": 0.0})
    latencies = [agent_start - end for end, agent_start, _ in waits]
    longest, mean = max(latencies), sum(latencies) / len(latencies)
    matched = (longest if p["stat"] == "max" else mean) > p["max_ms"]
    slow = sorted((w for w in waits if w[1] - w[0] > p["max_ms"]), key=lambda w: w[0] - w[1])
    evidence = tuple(
        _time_evidence(
            end, start, msg("客户说完后坐席 {seconds} 秒才回应", seconds=_sec(start - end)), seg.id
        )
        for end, start, seg in (slow[:_MAX_EVIDENCE] if matched else [])
    )
    values = {"applicable": 1.0, "count": float(len(latencies)), "max_ms": float(longest),
              "mean_ms": round(mean, 1)}  # fmt: skip
    return OperatorResult(matched, evidence, values)


_NORMALISED = _Unspoken(_FILLERS)


def _normalise(text: str) -> str:
    return text.lower().translate(_NORMALISED)


def _bigrams(text: str) -> frozenset[str]:
    return frozenset({text[i : i + 2] for i in range(len(text) - 1)} or {text})


def _set_jaccard(grams_a: frozenset[str], grams_b: frozenset[str]) -> float:
    shared = len(grams_a & grams_b)
    return shared / (len(grams_a) + len(grams_b) - shared)  # |A ∪ B| = |A| + |B| − |A ∩ B|


def _difflib_ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _repetition(p: dict[str, Any], call: Call) -> OperatorResult:
    turns = [(s, t) for s in _sorted(call) if _role_matches(s, p["role"])
             if len(t := _normalise(s.text)) >= p["min_chars"]]  # fmt: skip
    # Each turn is compared with up to `lookback` earlier ones: prepare every turn once.
    similar: Callable[[Any, Any], float] = _difflib_ratio
    prepared: list[Any] = [text for _seg, text in turns]
    if p["method"] == "bigram":
        similar, prepared = _set_jaccard, [_bigrams(text) for text in prepared]
    most = 1 if turns else 0
    role = p["role"]
    notes: dict[int, tuple[Seg, str]] = {}
    for i, (seg, _text) in enumerate(turns):
        start = max(0, i - p["lookback"])
        earlier = [(prev, score) for (prev, _), form in zip(turns[start:i], prepared[start:i],
                                                            strict=True)
                   if (score := similar(prepared[i], form)) >= p["similarity"]]  # fmt: skip
        most = max(most, len(earlier) + 1)
        if len(earlier) + 1 >= p["times"]:
            for prev, score in earlier:
                notes.setdefault(prev.id, (prev, _similar_note(role, f"{score:.2f}")))
            notes[seg.id] = (seg, _repeat_note(role, len(earlier) + 1))
    ordered = sorted(notes.values(), key=lambda n: (n[0].start_ms, n[0].id))
    evidence = tuple(_seg_evidence(seg, note) for seg, note in ordered[:_MAX_EVIDENCE])
    return OperatorResult(
        bool(notes), evidence, {"max_repeats": float(most), "turns": float(len(turns))}
    )


def _similar_note(role: str, similarity: str) -> str:
    if role == ROLE_AGENT:
        return msg("坐席提出相似诉求（相似度 {similarity}）", similarity=similarity)
    if role == ROLE_CUSTOMER:
        return msg("客户提出相似诉求（相似度 {similarity}）", similarity=similarity)
    return msg("说话人提出相似诉求（相似度 {similarity}）", similarity=similarity)


def _repeat_note(role: str, count: int) -> str:
    if role == ROLE_AGENT:
        return msg("坐席第 {count} 次提出相同诉求", count=count)
    if role == ROLE_CUSTOMER:
        return msg("客户第 {count} 次提出相同诉求", count=count)
    return msg("说话人第 {count} 次提出相同诉求", count=count)


_OPERATORS: dict[str, Callable[[dict[str, Any], Call], OperatorResult]] = {
    "silence": _silence,
    "interruption": _interruption,
    "speech_rate": _speech_rate,
    "duration": _duration,
    "talk_ratio": _talk_ratio,
    "latency": _latency,
    "repetition": _repetition,
}

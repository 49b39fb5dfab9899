"""Operator definitions inside a rule document: parsed and validated into frozen dataclasses.

Every parse function takes the raw JSON value and a list to append Chinese error messages to,
and returns None when the value is unusable, so one pass reports every problem of a rule.
Keywords are normalised here exactly as segment text is (`transcription.asr.itn.normalize`:
"九五五八八" → "95588"), so a rule written with spoken digits still matches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import regex

from analytics.rules import external_ops
from qa_i18n import msg
from transcription.asr.itn import normalize

ROLES = ("agent", "customer", "any")
NEGATION_MODES = ("exclude", "include", "only")
ORDER_REQUIREMENTS = ("first_before_then", "then_before_first")
TEXT_TYPES = ("keywords", "regex", "proximity", "order")
DEFAULT_PINYIN_THRESHOLD = 0.85
DEFAULT_NEGATION_WINDOW = 4
DEFAULT_REGEX_TIMEOUT_S = 0.05
MAX_REGEX_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Window:
    """Part of the call an operator looks at; a segment counts if it overlaps the window."""

    first_s: float | None = None
    last_s: float | None = None
    of_role: bool = False  # last_s counts back from the end of the operator's role's speech
    from_pct: float | None = None
    to_pct: float | None = None

    def bounds_ms(self, call_end_ms: int, role_end_ms: int) -> tuple[float, float]:
        if self.first_s is not None:
            return 0.0, self.first_s * 1000
        if self.last_s is not None:
            end = role_end_ms if self.of_role else call_end_ms
            return end - self.last_s * 1000, float(end)
        lo = (self.from_pct or 0.0) / 100 * call_end_ms
        hi = (100.0 if self.to_pct is None else self.to_pct) / 100 * call_end_ms
        return lo, hi


@dataclass(frozen=True)
class MatchOptions:
    negation: str = "exclude"
    negation_window: int = DEFAULT_NEGATION_WINDOW
    pinyin: bool = False
    pinyin_threshold: float = DEFAULT_PINYIN_THRESHOLD


@dataclass(frozen=True)
class KeywordsOp:
    role: str
    window: Window | None
    mode: str  # "any" | "all" | "none" | "at_least"
    keywords: tuple[str, ...]  # normalised, de-duplicated, in the author's order
    at_least: int = 1
    min_count: int = 1
    match: MatchOptions = MatchOptions()


@dataclass(frozen=True)
class RegexOp:
    role: str
    window: Window | None
    pattern: str
    exclude: str | None = None
    timeout_s: float = DEFAULT_REGEX_TIMEOUT_S


@dataclass(frozen=True)
class ProximityOp:
    role: str
    window: Window | None
    a: tuple[str, ...]
    b: tuple[str, ...]
    within_chars: int | None = None  # same segment, at most N characters between A and B
    within_segments: int | None = None  # segment positions differ by at most N (0 = same)
    negate: bool = False  # matched when some A has no B within range
    match: MatchOptions = MatchOptions()


@dataclass(frozen=True)
class OrderOp:
    first: KeywordsOp
    then: KeywordsOp
    require: str = "first_before_then"


@dataclass(frozen=True)
class ExternalOp:
    """A metric or sentiment operator: validated and evaluated by metrics.py / sentiment.py."""

    type: str
    raw: Mapping[str, Any] = field(hash=False)


OperatorSpec = KeywordsOp | RegexOp | ProximityOp | OrderOp | ExternalOp

_COMMON = {"type", "role", "window", "note"}
_MATCH_FIELDS = {"negation", "negation_window", "pinyin", "pinyin_threshold"}
_FIELDS = {
    "keywords": _COMMON | _MATCH_FIELDS | {"any", "all", "none", "at_least", "min_count"},
    "regex": _COMMON | {"pattern", "exclude", "timeout_s"},
    "proximity": _COMMON | _MATCH_FIELDS | {"a", "b", "within_chars", "within_segments", "negate"},
    "order": _COMMON | {"first", "then", "require"},
}


@dataclass(frozen=True)
class Where:
    """The operator a message is about: "算子 2", "算子 2 first any", "前置条件 算子 1 pattern".

    A message reads "算子 2：<problem>", the problem being a message of its own (one template
    each), so both parts read in the reader's language (see qa_i18n and qa_platform.i18n).
    """

    path: str  # the operator's number, then the JSON fields down to the value concerned
    precondition: bool = False  # the operator belongs to the rule's inline precondition

    def field(self, name: str) -> Where:
        return Where(f"{self.path} {name}", self.precondition)

    def says(self, problem: str) -> str:
        if self.precondition:
            return msg("前置条件 算子 {operator}：{problem}", operator=self.path, problem=problem)
        return msg("算子 {operator}：{problem}", operator=self.path, problem=problem)


def parse_operator(
    raw: object, errors: list[str], number: int, *, precondition: bool = False
) -> OperatorSpec | None:
    """Operator `number` of a rule's body, or of its inline precondition."""
    return _parse_operator(raw, errors, Where(str(number), precondition))


def _parse_operator(raw: object, errors: list[str], where: Where) -> OperatorSpec | None:
    if not isinstance(raw, dict):
        errors.append(where.says(msg("必须是 JSON 对象")))
        return None
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        errors.append(where.says(msg("缺少算子类型 type")))
        return None
    if kind not in TEXT_TYPES:
        if kind in external_ops.known_types():
            problems = external_ops.validate(kind, raw)
            errors.extend(where.says(p) for p in problems)
            return None if problems else ExternalOp(type=kind, raw=dict(raw))
        known = "、".join((*TEXT_TYPES, *sorted(external_ops.EXTERNAL_TYPES)))
        errors.append(
            where.says(msg("未知的算子类型「{kind}」（可用：{known}）", kind=kind, known=known))
        )
        return None
    before = len(errors)
    for name in sorted(set(raw) - _FIELDS[kind]):
        errors.append(where.says(_unknown_field(kind, name)))
    role = _role(raw.get("role", "any"), errors, where)
    window = parse_window(raw.get("window"), role, errors, where)
    op: OperatorSpec | None
    if kind == "keywords":
        op = _keywords(raw, role, window, errors, where)
    elif kind == "regex":
        op = _regex(raw, role, window, errors, where)
    elif kind == "proximity":
        op = _proximity(raw, role, window, errors, where)
    else:
        op = _order(raw, role, window, errors, where)
    return op if len(errors) == before else None


def _unknown_field(kind: str, name: str) -> str:
    if kind == "keywords":
        return msg("keywords 算子不认识字段「{field}」", field=name)
    if kind == "regex":
        return msg("regex 算子不认识字段「{field}」", field=name)
    if kind == "proximity":
        return msg("proximity 算子不认识字段「{field}」", field=name)
    return msg("order 算子不认识字段「{field}」", field=name)


def parse_window(raw: object, role: str, errors: list[str], where: Where) -> Window | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        errors.append(where.says(msg("时间窗口 window 必须是非空对象")))
        return None
    keys = set(raw)
    if keys in ({"first_s"}, {"last_s"}, {"last_s", "of"}):
        name = "first_s" if "first_s" in keys else "last_s"
        seconds = raw[name]
        if not _is_number(seconds) or seconds <= 0:
            errors.append(where.says(msg("时间窗口无效：{field} 必须是大于 0 的秒数", field=name)))
            return None
        of = raw.get("of", "call")
        if of not in ("call", "role"):
            errors.append(where.says(
                msg('时间窗口无效：of 只能是 "call"（通话结尾）或 "role"（该角色最后发言）')
            ))  # fmt: skip
            return None
        if of == "role" and role == "any":
            errors.append(where.says(
                msg('时间窗口无效："of": "role" 需要算子的 role 为 agent 或 customer')
            ))  # fmt: skip
            return None
        if name == "first_s":
            return Window(first_s=float(seconds))
        return Window(last_s=float(seconds), of_role=of == "role")
    if keys and keys <= {"from_pct", "to_pct"}:
        lo, hi = raw.get("from_pct", 0), raw.get("to_pct", 100)
        if not (_is_number(lo) and _is_number(hi) and 0 <= lo < hi <= 100):
            errors.append(where.says(msg("时间窗口无效：需满足 0 ≤ from_pct < to_pct ≤ 100")))
            return None
        return Window(from_pct=float(lo), to_pct=float(hi))
    # The JSON shapes are parameters: a template holds no braces but its placeholders.
    errors.append(where.says(msg(
        "时间窗口无效：只能是 {first}、{last}（可加 {of_role}）或 {percent}，收到字段 {fields}",
        first='{"first_s": N}', last='{"last_s": N}', of_role='"of": "role"',
        percent='{"from_pct": a, "to_pct": b}', fields=sorted(keys),
    )))  # fmt: skip
    return None


def parse_keyword_list(raw: object, errors: list[str], where: Where) -> tuple[str, ...] | None:
    if not isinstance(raw, list) or not raw:
        errors.append(where.says(msg("关键词列表为空或不是列表")))
        return None
    out: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            errors.append(where.says(msg("关键词必须是非空字符串，收到 {value}", value=repr(item))))
            return None
        if any(ord(ch) < 32 for ch in item):
            errors.append(where.says(msg("关键词「{keyword}」含控制字符", keyword=repr(item))))
            return None
        keyword = normalize(item.strip())
        if keyword not in out:
            out.append(keyword)
    return tuple(out)


def _keywords(
    raw: dict[str, Any], role: str, window: Window | None, errors: list[str], where: Where
) -> KeywordsOp | None:
    modes = [m for m in ("any", "all", "none", "at_least") if m in raw]
    if len(modes) != 1:
        found = modes or msg("无")
        errors.append(
            where.says(msg("any、all、none、at_least 必须恰好出现一个，收到 {found}", found=found))
        )
        return None
    mode = modes[0]
    at_least = 1
    if mode == "at_least":
        spec = raw["at_least"]
        if not isinstance(spec, dict) or set(spec) != {"n", "of"}:
            shape = '{"n": N, "of": [...]}'
            errors.append(where.says(msg("at_least 的格式为 {shape}", shape=shape)))
            return None
        keywords = parse_keyword_list(spec["of"], errors, where.field("at_least.of"))
        n = spec["n"]
        if keywords is not None and not (_is_int(n) and 1 <= n <= len(keywords)):
            errors.append(
                where.says(msg("at_least.n 必须是 1 到 {max} 之间的整数", max=len(keywords)))
            )
            return None
        at_least = n
    else:
        keywords = parse_keyword_list(raw[mode], errors, where.field(mode))
    min_count = raw.get("min_count", 1)
    if not _is_int(min_count) or min_count < 1:
        errors.append(where.says(msg("min_count 必须是不小于 1 的整数")))
        return None
    if mode == "none" and "min_count" in raw:
        errors.append(where.says(msg("none 表示一次都不出现，不能再设 min_count")))
        return None
    match = _match_options(raw, errors, where)
    if keywords is None or match is None:
        return None
    return KeywordsOp(role, window, mode, keywords, at_least, min_count, match)


def _regex(
    raw: dict[str, Any], role: str, window: Window | None, errors: list[str], where: Where
) -> RegexOp | None:
    pattern = _compile_check(raw.get("pattern"), errors, where.field("pattern"))
    exclude = raw.get("exclude")
    if exclude is not None:
        exclude = _compile_check(exclude, errors, where.field("exclude"))
    timeout = raw.get("timeout_s", DEFAULT_REGEX_TIMEOUT_S)
    if not _is_number(timeout) or not 0 < timeout <= MAX_REGEX_TIMEOUT_S:
        errors.append(
            where.says(msg("timeout_s 必须在 0 到 {max} 秒之间", max=MAX_REGEX_TIMEOUT_S))
        )
        return None
    if pattern is None or ("exclude" in raw and exclude is None):
        return None
    return RegexOp(role, window, pattern, exclude, float(timeout))


def _proximity(
    raw: dict[str, Any], role: str, window: Window | None, errors: list[str], where: Where
) -> ProximityOp | None:
    a = parse_keyword_list(raw.get("a"), errors, where.field("a"))
    b = parse_keyword_list(raw.get("b"), errors, where.field("b"))
    ranges = [k for k in ("within_chars", "within_segments") if k in raw]
    if len(ranges) != 1:
        errors.append(where.says(msg("within_chars 与 within_segments 必须恰好设置一个")))
        return None
    distance = raw[ranges[0]]
    if not _is_int(distance) or distance < 0:
        if ranges[0] == "within_chars":
            errors.append(where.says(msg("within_chars 必须是不小于 0 的整数")))
        else:
            errors.append(where.says(msg("within_segments 必须是不小于 0 的整数")))
        return None
    negate = raw.get("negate", False)
    if not isinstance(negate, bool):
        errors.append(where.says(msg("negate 必须是 true 或 false")))
        return None
    match = _match_options(raw, errors, where)
    if a is None or b is None or match is None:
        return None
    chars = distance if ranges[0] == "within_chars" else None
    segments = distance if ranges[0] == "within_segments" else None
    return ProximityOp(role, window, a, b, chars, segments, negate, match)


def _order(
    raw: dict[str, Any], role: str, window: Window | None, errors: list[str], where: Where
) -> OrderOp | None:
    require = raw.get("require", "first_before_then")
    if require not in ORDER_REQUIREMENTS:
        errors.append(where.says(msg("require 只能是 first_before_then 或 then_before_first")))
        return None
    parts: list[KeywordsOp] = []
    for name in ("first", "then"):
        first = name == "first"
        inner = raw.get(name)
        if not isinstance(inner, dict):
            if first:
                errors.append(where.says(msg("first 必须是关键词算子对象")))
            else:
                errors.append(where.says(msg("then 必须是关键词算子对象")))
            return None
        if inner.get("type", "keywords") != "keywords":
            if first:
                errors.append(where.says(msg("first 只能是 keywords 算子")))
            else:
                errors.append(where.says(msg("then 只能是 keywords 算子")))
            return None
        # The order operator's role and window are defaults for its two halves.
        merged = {"role": role, **({"window": raw["window"]} if "window" in raw else {}), **inner}
        merged["type"] = "keywords"
        op = _parse_operator(merged, errors, where.field(name))
        if not isinstance(op, KeywordsOp):
            return None
        if op.mode == "none":
            if first:
                errors.append(where.says(msg("first 不能使用 none（没有出现就无所谓先后）")))
            else:
                errors.append(where.says(msg("then 不能使用 none（没有出现就无所谓先后）")))
            return None
        parts.append(op)
    return OrderOp(parts[0], parts[1], require)


def _match_options(raw: dict[str, Any], errors: list[str], where: Where) -> MatchOptions | None:
    negation = raw.get("negation", "exclude")
    if negation not in NEGATION_MODES:
        errors.append(where.says(msg("negation 只能是 exclude、include 或 only")))
        return None
    window = raw.get("negation_window", DEFAULT_NEGATION_WINDOW)
    if not _is_int(window) or not 0 <= window <= 20:
        errors.append(where.says(msg("negation_window 必须是 0 到 20 之间的整数")))
        return None
    pinyin = raw.get("pinyin", False)
    if not isinstance(pinyin, bool):
        errors.append(where.says(msg("pinyin 必须是 true 或 false")))
        return None
    threshold = raw.get("pinyin_threshold", DEFAULT_PINYIN_THRESHOLD)
    if not _is_number(threshold) or not 0.5 <= threshold <= 1:
        errors.append(where.says(msg("pinyin_threshold 必须在 0.5 到 1 之间")))
        return None
    return MatchOptions(negation, window, pinyin, float(threshold))


def _compile_check(raw: object, errors: list[str], where: Where) -> str | None:
    if not isinstance(raw, str) or not raw:
        errors.append(where.says(msg("必须是非空的正则表达式字符串")))
        return None
    try:
        compiled = regex.compile(raw)
    except (regex.error, ValueError, TypeError) as exc:
        errors.append(where.says(msg("正则表达式无效（{error}）", error=exc)))
        return None
    if compiled.search("") is not None:
        errors.append(where.says(msg("正则表达式能匹配空字符串，会在每个片段上命中")))
        return None
    return raw


def _role(raw: object, errors: list[str], where: Where) -> str:
    if raw not in ROLES:
        errors.append(
            where.says(msg("role 只能是 agent、customer 或 any，收到 {value}", value=repr(raw)))
        )
        return "any"
    return str(raw)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )

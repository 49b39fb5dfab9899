"""Whether a keyword occurrence is negated ("我不是要退费") — a small, explicit scope rule.

Scope rule (documented in the rule-engine reference):

1. A negator (没有 不是 并非 不用 不要 不想 无需 无须 不必 不 没 别 未 甭) negates a keyword when it
   ends at most `window` characters (default 4) before the keyword starts, in the same clause:
   no clause punctuation (，。！？；：、 and ASCII ,.!?;:) and no contrast word (但是 可是 而是
   就是 只是 不过) between them. "我不是要退费", "我也不想销卡", "我没说要投诉" are negated.
2. Words that merely contain a negator do not negate: 不好意思 不过 不管 不仅 不但 不然 不断
   不错 不少 不客气 不行 不久 不得不 没关系 没事 别的 别人 特别 区别 分别 个别 级别 类别 告别
   识别 要不; nor does the A-not-A question form (要不要退费, 是不是, 有没有).
3. Conditional demands are not negations: a bare 不 that governs the keyword inside a condition
   — followed within a few characters by 的话 or a threat (我就 那我 就去 就要 就找 就投诉 就打
   就告 否则 不然), in the same clause ("不退费我就投诉", "不给我退费的话…") or right after the
   next comma ("不给我退费，我就去投诉"), or preceded in its clause by 如果/要是/假如/万一/若是/
   倘若 — is a demand for the thing, so the keyword counts as a plain mention. Only bare 不
   qualifies: "我不是要退费，就…" stays negated, and so does 没 ("我没说要退费，我就问问").

Double negation ("不是不想退费") is out of scope and reads as negated.
"""

from __future__ import annotations

import re

_NEGATOR = re.compile("没有|不是|并非|不用|不要|不想|无需|无须|不必|不|没|别|未|甭")
_NON_NEGATING = re.compile(
    "不好意思|不得不|不过|不管|不仅|不但|不然|不断|不错|不少|不客气|不行|不久|没关系|没事"
    "|别的|别人|特别|区别|分别|个别|级别|类别|告别|识别|要不(?!要)"
)
_CLAUSE_END = re.compile("[，。！？；：、,.!?;:\n]|但是|可是|而是|就是|只是|不过")
_COND_BEFORE = re.compile("如果|要是|假如|万一|若是|倘若")
_THREAT = "我就|那我|我们就|就去|就要|就找|就投诉|就打|就告|否则|不然"
_COND_SAME_CLAUSE = re.compile(f"[^，。！？；：,.!?;:]{{0,6}}?(?:的话|{_THREAT})")
_COND_NEXT_CLAUSE = re.compile(
    f"[^，。！？；：,.!?;:]{{0,4}}[，,][^，。！？；：,.!?;:]{{0,2}}?(?:{_THREAT})"
)
_MAX_NEGATOR = 2
_CONTEXT = 4  # characters inspected around a negator for the compounds above


def is_negated(text: str, start: int, end: int, *, window: int = 4) -> bool:
    """True when the keyword at text[start:end] is negated under the scope rule above."""
    lo = max(0, start - window - _MAX_NEGATOR)
    if _NEGATOR.search(text, lo, start) is None:
        return False  # no negator in reach at all (most keyword hits)
    region = text[lo:start]
    clause_start = lo
    for boundary in _CLAUSE_END.finditer(region):
        clause_start = lo + boundary.end()
    negator = _nearest_negator(text, clause_start, start, window)
    if negator is None:
        return False
    neg_start, neg_end = negator
    if neg_end - neg_start == 1 and text[neg_start] == "不":
        return not _is_condition(text, neg_start, end)
    return True


def _nearest_negator(text: str, lo: int, start: int, window: int) -> tuple[int, int] | None:
    found: tuple[int, int] | None = None
    for match in _NEGATOR.finditer(text, lo, start):
        neg_start, neg_end = match.span()
        if start - neg_end > window or _in_compound(text, neg_start, neg_end):
            continue
        if 0 < neg_start < len(text) - 1 and text[neg_start - 1] == text[neg_start + 1]:
            continue  # A-not-A question: 要不要, 是不是, 有没有
        found = (neg_start, neg_end)
    return found


def _in_compound(text: str, neg_start: int, neg_end: int) -> bool:
    lo = max(0, neg_start - _CONTEXT)
    for match in _NON_NEGATING.finditer(text, lo, min(len(text), neg_end + _CONTEXT)):
        if match.start() < neg_end and neg_start < match.end():
            return True
    return False


def _is_condition(text: str, neg_start: int, keyword_end: int) -> bool:
    clause_start = max(0, neg_start - 12)
    for boundary in _CLAUSE_END.finditer(text, clause_start, neg_start):
        clause_start = boundary.end()
    if _COND_BEFORE.search(text, clause_start, neg_start):
        return True
    return bool(
        _COND_SAME_CLAUSE.match(text, keyword_end) or _COND_NEXT_CLAUSE.match(text, keyword_end)
    )

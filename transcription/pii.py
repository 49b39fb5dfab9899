"""Find and mask PII in a call's transcript: mobile numbers, ID numbers, bank cards, CVVs.

Product rule: PII in transcripts is masked before it is stored for display or export.
`find_pii` reads all segments of one call together (a number is often split over two turns);
`mask` replaces each digit inside a span with ``*`` and keeps everything else, so the text keeps
its length: character offsets, highlights and per-character timestamps stay valid.

What counts as PII (``PiiSpan.type``)
-------------------------------------
* ``phone`` - a mainland mobile number: 11 digits, ``1[3-9]…``, optionally after ``+86``,
  ``86`` or ``0086`` (the prefix is masked too). After a phone word (手机号, 电话, 联系方式,
  预留号码 …) any 11 digits starting with 1 count, since ASR may mishear the second digit.
* ``id_number`` - an 18-digit resident ID (GB 11643): 17 digits and a check digit or ``X``
  (also spoken 叉). Without context it must be valid: region 11–82, a real birth date and the
  mod-11 checksum. After 身份证/证件号 the 18-character shape is enough (a misheard digit
  breaks the checksum but the rest of the number is still the caller's).
* ``bank_card`` - 16–19 digits. Without context: Luhn-valid and a card-scheme prefix (62/60/65
  UnionPay and others, 4 Visa, 5/2 Mastercard, 35 JCB, 9 legacy domestic debit cards). After
  卡号/银行卡/账号 the length is enough, Luhn or not, for the same reason as ID numbers.
* ``cvv`` - 3 or 4 digits, only right after a security-code word (安全码, CVV/CVN/CVC, 卡背面
  …三位/码, 签名栏…), or 3 digits said in answer to a turn that asked for it (the first thing
  said, or the only number in that answer).

How digits are read
-------------------
Arabic digits (also full-width) and Chinese digits 零〇洞一幺二两三四五六七八九 are digits; a
number may mix them. A lone Chinese digit is a word (一下, 后四位), not a number. Digits
separated by spaces or dashes ("6225 8849", "138-1234-5678") are one number; chunks separated
by a comma or a filler ("138，1234，嗯，5678") are joined when the joined digits form one of
the shapes above. A number that ends one turn continues at the start of the same speaker's
next turn (up to three turns later, with the other side's backchannel "嗯，您请说" in
between); without roles (plain strings, mono calls) a turn with no digits in between is taken
for that backchannel. The parts are found together and returned as one span per segment.

Context is the nearest keyword before the number in the same segment (within 24 characters,
8 for a CVV), else the end of one of the two previous turns (an agent asking "麻烦您报一下
身份证号码"), else "…是我的身份证号" right after it.

Deliberately not masked
-----------------------
* partial numbers: 尾号0385, 后四位/后六位/前六位/末四位 … (they identify nobody);
* verification codes (验证码, 动态码, 校验码), 工号, order/transaction/reference/policy
  numbers (订单号, 交易参考号, 流水号, 编号, 保单号 …) named right before the digits, even
  when the digits would pass Luhn or look like a mobile number;
* hotlines and landlines (95588, 12378, 400-…, 010-…): only mobile numbers are PII;
* amounts, dates, times, rates and addresses (六百八十元, 2026年11月18日, 3.5%, 五零二室):
  Chinese numbers with units (十百千万亿), decimals and percentages are never digit strings;
* digits glued to Latin letters (zhangli1988, A1023, RF20261118-0001);
* the old 15-digit ID numbers, landline numbers and e-mail addresses: not PII in the standard.
The module is pure Python (no Django) so the eval command and tests can use it directly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

PHONE = "phone"
ID_NUMBER = "id_number"
BANK_CARD = "bank_card"
CVV = "cvv"
TYPES = (PHONE, ID_NUMBER, BANK_CARD, CVV)

_CHINESE_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
}  # fmt: skip
_DIGIT_VALUE: dict[str, str] = {
    **{str(d): str(d) for d in range(10)},
    **{chr(0xFF10 + d): str(d) for d in range(10)},  # full-width ０-９
    **_CHINESE_DIGITS,
}
# Every character `mask` treats as a digit (besides an ID number's check letter X).
DIGIT_CHARS = frozenset(_DIGIT_VALUE)
_DIGIT_CLASS = "".join(_DIGIT_VALUE)
_RUN = re.compile(f"[{_DIGIT_CLASS}]+")
_CHECK_X = frozenset("Xx叉×")
_HARD_SEP = re.compile(r"[ \u3000\-－‐‑–—]{1,3}")
# Between chunks of one number said in pieces, at the end/start of a turn: punctuation and fillers.
_FILLER = re.compile(
    r"[\s，,。.、…~～！!？?：:；;嗯呃啊哦噢喔额唔哎诶欸呀吧呢是的就那个然后还有接着后面再剩下]*"
)
_SOFT_PUNCT = re.compile(r"[，,、。.；;…]")
_UNITS = frozenset("十百千万亿")
_DECIMAL = frozenset(".．点")
_PLUS = frozenset("+＋")
_NOT_A_STRING_AFTER = frozenset("%％@")

# Context keywords. Tried at each position in this order, so a longer or more specific
# phrase (客服电话, 身份证后四位, 背面的三位校验码) wins over the shorter word inside it.
_CONTEXT_PATTERNS: tuple[tuple[str, str], ...] = (
    (CVV, r"(?:卡片?)?背面[^，。？！,.?!]{0,8}(?:码|位|数字|数)"),
    (CVV, r"签名(?:栏|条)[^，。？！,.?!]{0,8}(?:码|位|数字|数)"),
    (CVV, r"安全码|(?i:cvv2?|cvn2?|cvc2?)"),
    ("partial", r"尾号|尾数|末尾|(?:最后|后面|后|末|前|头)\s*[0-9一二三四五六七八九两几]\s*位数?"),
    ("hotline", r"客服电话|服务电话|客服热线|服务热线|热线电话|热线|座机|固话|分机|总机"),
    ("nonpii", r"工号|工好|验证码|动态码|动态密码|短信码|校验码|确认码|密码|订单号|订单编号"
               r"|运单号|快递单号|单号|流水号|参考号|交易号|编号|保单号|合同号|邮编|邮政编码"
               r"|金额|积分|额度"),
    (ID_NUMBER, r"公民身份号码|身份证件?号码?|身份证|证件号码?|身份号码?"),
    (BANK_CARD, r"(?:银行卡|信用卡|借记卡|储蓄卡|卡)的?号码?|银行卡|银行账号|账号|账户号码?"),
    (PHONE, r"手机号码?|手机|电话号码?|联系电话|电话|联系方式|预留的?号码|来电号码"),
)
_CONTEXT = re.compile("|".join(f"(?P<k{i}>{p})" for i, (_, p) in enumerate(_CONTEXT_PATTERNS)))
_AFTER_CONTEXT = re.compile(r"[，,\s]*(?:这|那|就)?是(?:我的?|本人的?)?")

_WINDOW = 24
_CVV_GAP = 8
_LABEL_LINK = re.compile(r"[\s:：是为的号码]{0,4}")  # 验证码是/订单号：… right before the number
_PREV_SEGMENTS = 2
_PREV_WINDOW = 40
_FOLLOW_SEGMENTS = 3
_UNKNOWN_ROLES = frozenset({None, "", "unknown"})
_NOT_A_START = frozenset({"partial", "hotline", "nonpii", "nonpii_here"})

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Province-level codes (first two digits): 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82.
_ID_REGIONS = frozenset(
    f"{n}" for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47),
                     *range(50, 55), *range(61, 66), 71, 81, 82)
)
_CARD_PREFIX = re.compile(r"62|60|65|4|5[1-5]|2[2-7]|35|9")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_MOBILE_LOOSE = re.compile(r"1\d{10}")


@dataclass(frozen=True)
class PiiSpan:
    """PII found in one segment: ``text == segment_text[start:end]`` (end exclusive)."""

    segment_index: int
    start: int
    end: int
    type: str
    text: str


@dataclass
class _Chunk:
    seg: int
    index: int  # position among the segment's chunks
    start: int  # includes a leading "+" of +86
    end: int
    digits: str
    x_end: int | None = None  # end after a check letter X right behind the digits
    excluded: bool = False  # an amount, decimal, or digits glued to letters
    hard_link: bool = False  # the chain's next chunk follows after a space or dash only


@dataclass(frozen=True)
class _Segment:
    role: str | None
    text: str


def _segment(item: object) -> _Segment:
    if isinstance(item, str):
        return _Segment(None, item)
    if isinstance(item, Mapping):
        return _Segment(item.get("role"), str(item.get("text") or ""))
    return _Segment(getattr(item, "role", None), str(getattr(item, "text", "") or ""))


def find_pii(segments: Sequence[object]) -> list[PiiSpan]:
    """PII spans in one call's segments (strings, or objects/mappings with role and text)."""
    segs = [_segment(item) for item in segments]
    chunks_by_seg = [_chunks(i, seg.text) for i, seg in enumerate(segs)]
    chains = _chains(segs, chunks_by_seg)
    spans: list[PiiSpan] = []
    for chain in chains:
        spans.extend(_classify_chain(chain, segs, chunks_by_seg))
    spans.sort(key=lambda s: (s.segment_index, s.start))
    return spans


def mask(text: str, spans: Iterable[PiiSpan]) -> str:
    """Replace every digit inside the spans with ``*``; same length, separators kept.

    The spans must belong to this text (their segment_index is not checked). The check letter
    X of an ID number counts as a digit.
    """
    chars = list(text)
    for span in spans:
        for pos in range(max(span.start, 0), min(span.end, len(chars))):
            ch = chars[pos]
            if ch in DIGIT_CHARS or (span.type == ID_NUMBER and ch in _CHECK_X):
                chars[pos] = "*"
    return "".join(chars)


def mask_segments(texts: Sequence[str], spans: Iterable[PiiSpan]) -> list[str]:
    """Mask each text with the spans whose segment_index is its position."""
    by_segment: dict[int, list[PiiSpan]] = {}
    for span in spans:
        by_segment.setdefault(span.segment_index, []).append(span)
    return [mask(text, by_segment.get(i, ())) for i, text in enumerate(texts)]


def count_by_type(spans: Iterable[PiiSpan]) -> dict[str, int]:
    """{"phone": 2, ...}, only the types that occur, in TYPES order."""
    counts = Counter(span.type for span in spans)
    return {t: counts[t] for t in TYPES if counts[t]}


# --- Digit chunks -------------------------------------------------------------------------


def _chunks(seg: int, text: str) -> list[_Chunk]:
    """Digit runs of one segment, with their neighbourhood checked."""
    out: list[_Chunk] = []
    for m in _RUN.finditer(text):
        start, end, run = m.start(), m.end(), m.group()
        if len(run) == 1 and run in _CHINESE_DIGITS:
            continue  # a lone 一/三/六: 一下, 后四位, 三年 - a word, not a digit string
        letters = re.search(r"[A-Za-z]+$", text[max(start - 8, 0):start])
        keyword = letters is not None and letters.group().lower() in {"cvv", "cvn", "cvc"}
        if keyword and run == "2":
            continue  # the 2 of CVV2/CVN2/CVC2
        chunk = _Chunk(seg, len(out), start, end, "".join(_DIGIT_VALUE[c] for c in run))
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if before in _PLUS:
            chunk.start -= 1
        x_pos = end + 1 if after == " " else end
        if x_pos < len(text) and text[x_pos] in _CHECK_X:
            tail = text[x_pos + 1:x_pos + 2]
            if not (tail.isascii() and tail.isalpha()):
                chunk.x_end = x_pos + 1
        chunk.excluded = (
            before in _UNITS or after in _UNITS
            or after in _NOT_A_STRING_AFTER or before == "@"
            or (after in _DECIMAL and text[end + 1:end + 2] in _DIGIT_VALUE)
            or (before in _DECIMAL and start >= 2 and text[start - 2] in _DIGIT_VALUE)
            or (letters is not None and not keyword)
            or (after.isascii() and after.isalpha() and chunk.x_end is None)
        )  # fmt: skip
        out.append(chunk)
    return out


def _chains(segs: list[_Segment], chunks_by_seg: list[list[_Chunk]]) -> list[list[_Chunk]]:
    """Maximal runs of chunks that may be one number: hard, soft and next-turn links."""
    nxt: dict[int, _Chunk] = {}
    has_prev: set[int] = set()

    def link(a: _Chunk, b: _Chunk, *, hard: bool = False) -> None:
        nxt[id(a)] = b
        has_prev.add(id(b))
        a.hard_link = hard

    for s, chunks in enumerate(chunks_by_seg):
        kept = [c for c in chunks if not c.excluded]
        text = segs[s].text
        for a, b in pairwise(kept):
            between = text[a.end:b.start]
            hard = bool(_HARD_SEP.fullmatch(between))
            soft = len(between) <= 6 and _FILLER.fullmatch(between) and _SOFT_PUNCT.search(between)
            if a.x_end is None and (hard or soft):
                link(a, b, hard=hard)
        if not kept or not _FILLER.fullmatch(text[kept[-1].end:]) or len(text) - kept[-1].end > 6:
            continue
        if kept[-1].x_end is not None:
            continue
        target = _next_turn(segs, chunks_by_seg, s)
        if target is not None:
            link(kept[-1], target)
    chains: list[list[_Chunk]] = []
    for chunks in chunks_by_seg:
        for chunk in chunks:
            if chunk.excluded or id(chunk) in has_prev:
                continue
            chain = [chunk]
            while id(chain[-1]) in nxt:
                chain.append(nxt[id(chain[-1])])
            chains.append(chain)
    return chains


def _next_turn(segs: list[_Segment], chunks_by_seg: list[list[_Chunk]], s: int) -> _Chunk | None:
    """The first chunk of the same speaker's next turn, if the turn starts with it.

    Without speaker roles (plain strings, mono calls: role None or "unknown") a turn without
    digits in between is taken for the other side's backchannel and skipped.
    """
    role = segs[s].role
    known = role not in _UNKNOWN_ROLES
    for t in range(s + 1, min(s + 1 + _FOLLOW_SEGMENTS, len(segs))):
        if known and segs[t].role != role:
            continue
        kept = [c for c in chunks_by_seg[t] if not c.excluded]
        if not kept:
            if known:
                return None
            continue
        prefix = segs[t].text[:kept[0].start]
        if len(prefix) <= 8 and _FILLER.fullmatch(prefix):
            return kept[0]
        return None
    return None


# --- Classification -----------------------------------------------------------------------


def _classify_chain(chain: list[_Chunk], segs: list[_Segment],
                    chunks_by_seg: list[list[_Chunk]]) -> list[PiiSpan]:
    """Greedy, left to right: the longest run of chunks from here that is PII."""
    spans: list[PiiSpan] = []
    i = 0
    while i < len(chain):
        found = None
        total = 0
        ends = []
        for j in range(i, len(chain)):
            total += len(chain[j].digits)
            if total > 19:
                break
            ends.append(j)
        context = _context(chain[i], segs, chunks_by_seg)
        for j in reversed(ends):
            if context in _NOT_A_START and not all(c.hard_link for c in chain[i:j]):
                continue  # 尾号5489，… / 验证码是4829，…: a short number, not the start of one
            kind = _classify(chain[i:j + 1], segs, context)
            if kind is not None:
                found = (j, *kind)
                break
        if found is None:
            i += 1
            continue
        j, kind_type, with_x = found
        spans.extend(_spans(chain[i:j + 1], kind_type, with_x, segs))
        i = j + 1
    return spans


def _classify(part: list[_Chunk], segs: list[_Segment],
              context: str | None) -> tuple[str, bool] | None:
    """(type, uses the check letter X) for these chunks read as one number, or None."""
    digits = "".join(c.digits for c in part)
    plus = segs[part[0].seg].text[part[0].start] in _PLUS
    x_possible = part[-1].x_end is not None and len(digits) == 17
    national = _national(digits)
    if context == PHONE and national is not None and _MOBILE_LOOSE.fullmatch(national):
        return PHONE, False
    if context == ID_NUMBER and (len(digits) == 18 or x_possible):
        return ID_NUMBER, x_possible
    if context == BANK_CARD and 16 <= len(digits) <= 19:
        return BANK_CARD, False
    if context == CVV and len(part) == 1 and len(digits) in (3, 4) and not plus:
        return CVV, False
    if context == "nonpii_here":
        return None
    if national is not None and _MOBILE.fullmatch(national):
        return PHONE, False
    if x_possible and _id_valid(digits + "X"):
        return ID_NUMBER, True
    if len(digits) == 18 and _id_valid(digits):
        return ID_NUMBER, False
    if 16 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and _luhn(digits) and not plus:
        return BANK_CARD, False
    return None


def _national(digits: str) -> str | None:
    """The 11-digit national number, without +86/86/0086; None if the length is wrong."""
    if len(digits) == 11:
        return digits
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    if len(digits) == 15 and digits.startswith("0086"):
        return digits[4:]
    return None


def _id_valid(number: str) -> bool:
    """GB 11643: region, birth date and the mod-11 check character."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _ID_REGIONS:
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _context(first: _Chunk, segs: list[_Segment], chunks_by_seg: list[list[_Chunk]]) -> str | None:
    """What the number is said to be: a TYPES value, a non-PII kind, or None (nothing said).

    "nonpii_here" is a non-PII label (工号, 验证码, 订单号 …) right before the number (only
    是/为/a colon between): it overrules even a decisive shape. "partial" (尾号, 后四位),
    "hotline" (客服电话) and "nonpii" (a label further away) only keep the number from being
    joined with the next one over a comma or a turn: a full-length shape still counts.
    """
    text = segs[first.seg].text
    previous = chunks_by_seg[first.seg][first.index - 1] if first.index else None
    window_start = max(previous.end if previous else 0, first.start - _WINDOW)
    window = text[window_start:first.start]
    kind, gap = _nearest_keyword(window)
    if kind == "nonpii" and _LABEL_LINK.fullmatch(window[len(window) - gap:]):
        return "nonpii_here"
    if kind == CVV and gap > _CVV_GAP:
        kind = None
    if kind is not None:
        return kind
    if previous is None and first.start <= _WINDOW:  # it opens the turn: an answer?
        for s in range(first.seg - 1, max(first.seg - 1 - _PREV_SEGMENTS, -1), -1):
            prev_text = segs[s].text
            prev_chunks = chunks_by_seg[s]
            tail_start = max(prev_chunks[-1].end if prev_chunks else 0,
                             len(prev_text) - _PREV_WINDOW)
            asked, _gap = _nearest_keyword(prev_text[tail_start:])
            if asked == CVV:  # the answer: three digits, alone or first in the turn
                alone = sum(not c.excluded for c in chunks_by_seg[first.seg]) == 1
                return CVV if len(first.digits) == 3 and (alone or first.start <= 6) else None
            if asked is not None:
                return asked
            if prev_chunks:
                break
    after = _AFTER_CONTEXT.match(text, first.end)
    if after is not None:
        said = _CONTEXT.match(text, after.end())
        if said is not None and _pattern_kind(said) in TYPES:
            return _pattern_kind(said)
    return None


def _pattern_kind(match: re.Match[str]) -> str:
    return _CONTEXT_PATTERNS[int(str(match.lastgroup)[1:])][0]


def _nearest_keyword(window: str) -> tuple[str | None, int]:
    """The class of the keyword closest to the window's end, and its distance from the end."""
    last = None
    for m in _CONTEXT.finditer(window):
        last = m
    if last is None:
        return None, 0
    return _pattern_kind(last), len(window) - last.end()


def _spans(part: list[_Chunk], kind: str, with_x: bool, segs: list[_Segment]) -> list[PiiSpan]:
    """One span per segment the number touches, from its first to its last character there."""
    by_seg: dict[int, tuple[int, int]] = {}
    for n, chunk in enumerate(part):
        end = chunk.x_end if with_x and n == len(part) - 1 and chunk.x_end else chunk.end
        start, old_end = by_seg.get(chunk.seg, (chunk.start, end))
        by_seg[chunk.seg] = (min(start, chunk.start), max(old_end, end))
    return [
        PiiSpan(seg, start, end, kind, segs[seg].text[start:end])
        for seg, (start, end) in sorted(by_seg.items())
    ]


__all__ = [
    "BANK_CARD", "CVV", "DIGIT_CHARS", "ID_NUMBER", "PHONE", "TYPES", "PiiSpan", "count_by_type",
    "find_pii", "mask", "mask_segments",
]  # fmt: skip

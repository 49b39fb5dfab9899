import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analytics.rules.sentiment import (
    CallSentiment,
    call_sentiment,
    evaluate_sentiment,
    score_text,
    validate_sentiment,
    window_score,
)
from analytics.rules.types import Call, Seg
from conftest import EVAL_DEV_DIR

ROOT = Path(__file__).resolve().parents[3]
DEV_DIR = EVAL_DEV_DIR

# (text, expected label) — decisions documented in analytics/rules/sentiment.py.
LABEL_CASES = [
    # negation
    ("满意", "positive"),
    ("不满意", "negative"),
    ("我对你们的处理很不满意", "negative"),
    ("不太满意", "negative"),
    ("不是不满意", "neutral"),  # double negation cancels but hedges: not praise
    ("这个价格不贵", "neutral"),  # a negated negative is faint praise at most
    ("我不是要投诉", "neutral"),
    ("一点耐心都没有", "negative"),  # negation after the word
    ("语气不好", "negative"),
    # degree adverbs
    ("有点贵", "neutral"),
    ("太贵了", "negative"),
    ("非常满意", "positive"),
    ("挺好的", "positive"),
    ("特别感谢", "positive"),
    # call-center complaints
    ("我要投诉你们", "negative"),
    ("太过分了", "negative"),
    ("你们这什么破银行", "negative"),
    ("这到底怎么回事？", "negative"),
    ("这个收费不合理", "negative"),
    ("你们乱扣钱", "negative"),
    ("骗人的吧", "negative"),
    ("算了算了", "negative"),
    ("无语", "negative"),
    ("我要打12378", "negative"),
    ("以后别给我打这种电话了", "negative"),
    ("你们效率太低了", "negative"),
    ("说得太快了，我听不清", "negative"),
    # gratitude / resolution
    ("谢谢", "positive"),
    ("太好了", "positive"),
    ("挺好", "positive"),
    ("我很满意", "positive"),
    ("麻烦你了，谢谢", "positive"),
    ("问题解决了", "positive"),
    ("到账挺快的", "positive"),
    ("谢谢你啊，帮了大忙了", "positive"),
    # politeness and back-channels are (nearly) neutral
    ("好的", "neutral"),
    ("嗯", "neutral"),
    ("行", "neutral"),
    ("好", "neutral"),
    ("嗯，好的，知道了", "neutral"),
    ("没有了", "neutral"),
    ("再见", "neutral"),
    ("麻烦您提供一下身份证后四位", "neutral"),
    ("不好意思", "neutral"),
    ("好吧", "neutral"),
    # a complaint ending with thanks is neutral-ish, not positive
    ("行吧，谢谢", "neutral"),
    # an apology for one's own tone is not a complaint
    ("刚才不好意思啊，我也是太着急了", "neutral"),
    # ... but a polite preface does not hide a complaint after 但是
    ("不好意思，但是你们这个服务也太差了", "negative"),
    # plain questions and facts
    ("我想问一下这个年费怎么收", "neutral"),
    ("后四位是6663", "neutral"),
    ("", "neutral"),
    ("，。？", "neutral"),
]


@pytest.mark.parametrize(("text", "label"), LABEL_CASES)
def test_score_text_labels(text: str, label: str) -> None:
    score, got = score_text(text)
    assert got == label, (text, score)
    assert -1.0 <= score <= 1.0


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        ("非常满意", "满意"),
        ("满意", "有点满意"),
        ("满意！", "满意"),
        ("太差了", "差"),
        ("你们怎么回事？", "你们怎么回事"),  # rhetorical question intensifies a complaint
        ("太过分了！", "太过分了"),
    ],
)
def test_degree_and_punctuation_scale_the_score(stronger: str, weaker: str) -> None:
    assert abs(score_text(stronger)[0]) > abs(score_text(weaker)[0])


def test_negation_flips_within_the_clause_only() -> None:
    assert score_text("不满意")[0] < 0
    assert score_text("不，满意")[0] > 0  # the comma ends the negator's clause


def test_a_question_does_not_intensify_praise() -> None:
    assert score_text("真的吗？太好了")[0] == score_text("真的吗？太好了。")[0]


EMOTION_CASES = [
    # (text, emotion, label)
    ("嗯", "angry", "negative"),
    ("嗯", "ANGRY", "negative"),
    ("嗯", "<|ANGRY|>", "negative"),
    ("嗯", "disgusted", "negative"),
    ("嗯", "sad", "negative"),
    ("嗯", "fearful", "negative"),
    ("嗯", "happy", "positive"),
    ("嗯", "neutral", "neutral"),
    ("嗯", "surprised", "neutral"),
    ("嗯", "", "neutral"),
    ("谢谢", "angry", "neutral"),  # text and tone disagree: the words are partly outweighed
    ("太过分了", "angry", "negative"),
    ("太好了", "happy", "positive"),
]


@pytest.mark.parametrize(("text", "emotion", "label"), EMOTION_CASES)
def test_emotion_tag_combines_with_the_words(text: str, emotion: str, label: str) -> None:
    assert score_text(text, emotion)[1] == label


def test_emotion_is_additive_and_clipped() -> None:
    assert score_text("嗯", "angry")[0] == pytest.approx(-0.6)
    assert score_text("嗯", "happy")[0] == pytest.approx(0.4)
    assert score_text("太过分了！！", "angry")[0] == -1.0


def test_window_score_ignores_back_channels_and_averages_cues() -> None:
    assert window_score([]) == 0.0
    assert window_score([0.1, 0.1, 0.05]) < 0.3  # politeness never adds up to positive
    assert window_score([0.5, 0.5, 0.0]) == pytest.approx(1.0 / 3, abs=1e-4)
    assert window_score([-0.6, 0.4, 0.4]) == pytest.approx(0.2 / 4, abs=1e-4)  # mixed: neutral
    assert window_score([0.42]) == pytest.approx(0.21, abs=1e-4)  # one cue alone is shrunk


def call_of(*turns: tuple[str, str], emotions: dict[int, str] | None = None) -> Call:
    segments = tuple(
        Seg(
            id=100 + i,
            role=role,
            start_ms=i * 5000,
            end_ms=i * 5000 + 4000,
            text=text,
            emotion=(emotions or {}).get(i, ""),
        )
        for i, (role, text) in enumerate(turns)
    )
    return Call(segments=segments)


ANGRY_THEN_THANKFUL = call_of(
    ("agent", "您好，请问有什么可以帮您？"),
    ("customer", "你们怎么回事？乱扣我年费！"),
    ("agent", "非常抱歉，我帮您查一下。"),
    ("customer", "太过分了，我要投诉。"),
    ("agent", "已经帮您退回了。"),
    ("customer", "嗯，好的。"),
    ("agent", "还有其他可以帮您的吗？"),
    ("customer", "解决了就好，谢谢你啊。"),
    ("customer", "没有了，谢谢，再见。"),
)
CALM_THEN_ANGRY = call_of(
    ("customer", "你好，我想问一下年费。"),
    ("agent", "您好，年费是六百八十元。"),
    ("agent", "请问您是要咨询哪张卡？"),
    ("customer", "尾号6663那张。"),
    ("agent", "好的，这张卡年费六百八十元。"),
    ("customer", "好的，那能免吗？"),
    ("agent", "这个我也没办法。"),
    ("customer", "什么破银行，太不合理了！"),
    ("customer", "算了，我要投诉你们。"),
    ("customer", "无语。"),
)


def test_call_sentiment_by_role_start_end_overall() -> None:
    result = call_sentiment(ANGRY_THEN_THANKFUL)
    assert [s.segment_id for s in result.segments] == list(range(100, 109))
    customer = result.by_role["customer"]
    assert (customer.start, customer.end) == ("negative", "positive")
    assert customer.start_score < 0 < customer.end_score
    assert set(result.by_role) == {"agent", "customer"}
    assert result.by_role["agent"].overall == "neutral"


def test_end_turns_is_configurable() -> None:
    # A single polite "谢谢" is shrunk to neutral; the last two turns are positive; the last
    # five include the anger.
    assert call_sentiment(ANGRY_THEN_THANKFUL, end_turns=1).by_role["customer"].end == "neutral"
    assert call_sentiment(ANGRY_THEN_THANKFUL, end_turns=2).by_role["customer"].end == "positive"
    wide = call_sentiment(ANGRY_THEN_THANKFUL, end_turns=5).by_role["customer"]
    assert wide.end_score < call_sentiment(ANGRY_THEN_THANKFUL).by_role["customer"].end_score


def test_a_role_without_turns_is_neutral() -> None:
    result = call_sentiment(call_of(("agent", "您好")))
    assert result.by_role["customer"].end == "neutral"
    assert result.by_role["customer"].end_score == 0.0


def evaluate(spec: dict[str, Any], call: Call, sentiment: CallSentiment | None = None) -> Any:
    return evaluate_sentiment(spec, call, sentiment or call_sentiment(call))


def test_end_negative_with_evidence_on_the_driving_words() -> None:
    spec = {"type": "sentiment", "role": "customer", "scope": "end", "label": "negative"}
    result = evaluate(spec, CALM_THEN_ANGRY)
    assert result.matched
    assert result.values["score"] <= -0.3
    ids = [e.segment_id for e in result.evidence]
    assert set(ids) == {107, 108, 109}
    first = result.evidence[0]
    segment = next(s for s in CALM_THEN_ANGRY.segments if s.id == first.segment_id)
    assert segment.text[first.char_start : first.char_end] == first.text
    assert first.note.startswith("客户情绪负面")
    assert not evaluate({**spec, "label": "positive"}, CALM_THEN_ANGRY).matched


SCOPE_CASES = [
    # (spec, call, matched)
    ({"scope": "start", "label": "neutral"}, CALM_THEN_ANGRY, True),
    ({"scope": "overall", "label": "negative"}, CALM_THEN_ANGRY, True),
    ({"scope": "drop", "label": "negative"}, CALM_THEN_ANGRY, True),
    ({"scope": "drop"}, CALM_THEN_ANGRY, True),
    ({"scope": "drop"}, ANGRY_THEN_THANKFUL, False),  # it got better
    ({"scope": "end", "label": "positive"}, ANGRY_THEN_THANKFUL, True),
    ({"scope": "end", "label": "negative", "turns": 5}, ANGRY_THEN_THANKFUL, False),
    ({"scope": "start", "label": "negative", "turns": 1}, ANGRY_THEN_THANKFUL, True),
    ({"role": "agent", "scope": "overall", "label": "neutral"}, ANGRY_THEN_THANKFUL, True),
]


@pytest.mark.parametrize(("spec", "call", "expected"), SCOPE_CASES)
def test_scopes(spec: dict[str, Any], call: Call, expected: bool) -> None:
    assert evaluate({"type": "sentiment", **spec}, call).matched is expected


def test_drop_evidence_covers_start_and_end() -> None:
    result = evaluate({"type": "sentiment", "scope": "drop", "label": "negative"}, CALM_THEN_ANGRY)
    notes = [e.note for e in result.evidence]
    assert any(n.startswith("开头客户情绪") for n in notes)
    assert any(n.startswith("结尾客户情绪负面") for n in notes)
    assert result.values["drop"] > 0


def test_emotion_tag_shows_in_the_evidence() -> None:
    call = call_of(("customer", "你好"), ("customer", "嗯。"), emotions={1: "angry"})
    result = evaluate({"type": "sentiment", "label": "negative"}, call)
    assert result.matched
    assert result.evidence[0].note.endswith("语音情绪 angry")


def test_no_turns_for_the_role_is_not_applicable() -> None:
    result = evaluate({"type": "sentiment", "label": "neutral"}, call_of(("agent", "您好")))
    assert not result.matched
    assert result.values == {"applicable": 0.0}


BAD_SPECS = [
    ({"type": "keyword", "label": "negative"}, "必须是 sentiment"),
    ({"type": "sentiment"}, "缺少参数 label"),
    ({"type": "sentiment", "label": "angry"}, "label 必须是"),
    ({"type": "sentiment", "label": "negative", "scope": "middle"}, "scope 必须是"),
    ({"type": "sentiment", "label": "negative", "role": "any"}, "role 必须是"),
    ({"type": "sentiment", "label": "negative", "turns": 0}, "turns 必须是不小于 1 的整数"),
    ({"type": "sentiment", "label": "negative", "turn": 3}, "不支持参数「turn」"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_validate_sentiment(spec: dict[str, Any], message: str) -> None:
    errors = validate_sentiment(spec)
    assert any(message in e for e in errors), errors
    with pytest.raises(ValueError, match=message.split("「")[0]):
        evaluate(spec, CALM_THEN_ANGRY)


def test_valid_sentiment_specs() -> None:
    assert validate_sentiment({"type": "sentiment", "label": "negative"}) == []
    assert validate_sentiment({"type": "sentiment", "scope": "drop"}) == []
    full = {"type": "sentiment", "role": "agent", "scope": "overall", "label": "positive"}
    assert validate_sentiment({**full, "turns": 5, "id": 2}) == []


def test_jieba_initialises_quietly() -> None:
    code = "from analytics.rules.sentiment import score_text; print(score_text('谢谢')[1])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "positive"
    assert done.stderr == ""


def test_dev_customer_sentiment_end_macro_f1() -> None:
    if not DEV_DIR.is_dir() or not any(DEV_DIR.glob("*.json")):
        pytest.skip(f"labelled dev calls not found at {DEV_DIR} (set QA_EVAL_DEV_DIR)")
    from benchmarks.sentiment_dev import evaluate as evaluate_dev

    result = evaluate_dev(DEV_DIR)
    errors = [e["call_id"] for e in result["errors"]]
    assert result["macro_f1"] >= 0.8, (result["macro_f1"], errors)

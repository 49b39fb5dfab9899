"""The standard rule pack on small synthetic calls, the scorecard arithmetic, pack validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analytics.rulepack import (
    PACK_DIR,
    PackResult,
    Prediction,
    RulePack,
    RulePackError,
    call_from_document,
    resolve_pack,
)
from analytics.rules.types import Call, Seg
from analytics.tests.rules.factories import conversation, timed

A, C = "agent", "customer"
OPEN = (A, "您好，信用卡中心，工号3307为您服务，请问有什么可以帮您？")
CLOSE = (A, "好的，请问还有其他可以帮您的吗？感谢您的来电，再见。")


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return RulePack.load(resolve_pack("standard"))


def as_document(call: Call, layout: str = "stereo") -> dict[str, Any]:
    segments = [{"role": s.role, "start_ms": s.start_ms, "end_ms": s.end_ms, "text": s.text}
                for s in call.segments]  # fmt: skip
    return {"channel_layout": layout, "segments": segments}


def evaluate(pack: RulePack, call: Call, layout: str = "stereo") -> PackResult:
    """Through call_from_document, so text gets ITN like in the pipeline."""
    return pack.evaluate(call_from_document(as_document(call, layout)))


def run(pack: RulePack, *turns: tuple[str, str]) -> PackResult:
    return evaluate(pack, conversation(*turns))


# (label, turns, expected) — each call is opened and closed politely unless the case is about that.
CASES: list[tuple[str, str, tuple[tuple[str, str], ...], Prediction]] = [
    ("greeting", "job number", (OPEN,), True),
    ("greeting", "name only", ((A, "您好，我是客服小周，请问有什么可以帮您？"),), True),
    ("greeting", "ASR 工好", ((A, "你好，工好4410为您服务。"),), True),
    ("greeting", "name, 我叫", ((A, "早上好，这里是信用卡客服，我叫张晓雯。"),), True),
    ("greeting", "no self-identification", ((A, "您好，欢迎致电信用卡中心，请讲。"),), False),
    ("greeting", "no greeting word", ((A, "工号4410为您服务，请讲。"),), False),
    ("identity_verified", "verified first", (
        OPEN, (C, "我想查一下我的账单。"),
        (A, "好的，先核实一下您的身份，麻烦报一下身份证后四位。"), (C, "5566。"),
        (A, "核实通过，您本期账单是3200元，还款日是8号。")), True),
    ("identity_verified", "details before check", (
        OPEN, (C, "我想查一下我的账单。"), (A, "您本期账单是3200元，还款日是8号。"),
        (A, "另外麻烦您报一下预留手机号，我核实一下身份。")), False),
    ("identity_verified", "never checked", (
        OPEN, (C, "我的卡被冻结了，刷不了。"), (A, "好的，我这边已经给您解除了，您再试一下。")),
     False),
    ("identity_verified", "ASR 合适 = 核实", (
        OPEN, (C, "我想改一下账单日。"), (A, "好的，先合适一下您的身份，请报一下证件号后六位。"),
        (C, "123456。"), (A, "好的，已经帮您改好了。")), True),
    ("identity_verified", "policy question only", (
        OPEN, (C, "你们白金卡有什么权益？"), (A, "白金卡有机场贵宾厅和航空意外险。")), None),
    ("risk_disclosure", "wealth product with warning", (
        OPEN, (A, "我们有一款理财产品，年化3%左右。理财非存款，产品有风险，投资需谨慎。")), True),
    ("risk_disclosure", "wealth product, no warning", (
        OPEN, (A, "我们有一款理财产品，年化3%左右，很多客户都买了。")), False),
    ("risk_disclosure", "ASR 理才, no warning", (
        OPEN, (A, "您可以考虑一下我们的理才，收益比定期高。")), False),
    ("risk_disclosure", "instalment with fee", (
        OPEN, (A, "这笔可以办分期，每期手续费率0.6%，分12期。")), True),
    ("risk_disclosure", "fee without a number", (
        OPEN, (A, "办理分期需要收取一定的手续费，具体以页面为准。")), True),
    ("risk_disclosure", "instalment, fee not mentioned", (
        OPEN, (A, "这笔可以办分期，每个月还款压力小很多。")), False),
    ("risk_disclosure", "negated warning is no warning", (
        OPEN, (A, "这款理财没有风险，您放心。")), False),
    ("risk_disclosure", "only the customer warns", (
        OPEN, (A, "这款基金收益不错。"), (C, "投资不是有风险吗？"), (A, "收益挺好的。")),
     False),
    ("risk_disclosure", "no product", (OPEN, (C, "我想改地址。"), (A, "好的。")), None),
    ("closing", "asks for anything else", (OPEN, CLOSE), True),
    ("closing", "thanks for calling", (OPEN, (A, "好的，感谢您致电，再见。")), True),
    ("closing", "none", (OPEN, (C, "好。"), (A, "行，就这样。")), False),
    ("forbidden_language", "rude", (OPEN, (A, "你听不懂吗？我说了好几遍了。")), True),
    ("forbidden_language", "爱X不X", (OPEN, (A, "爱退不退，随你。")), True),
    ("forbidden_language", "not my business", (OPEN, (A, "这个事情我管不着，你去找商户。")), True),
    ("forbidden_language", "customer quotes it", (OPEN, (C, "你意思是这不归你管？")), False),
    ("forbidden_language", "explaining a limit", (OPEN, (A, "这次确实没有办法再减免了。")), False),
    ("prohibited_promise", "guaranteed return", (OPEN, (A, "这款保证收益，稳赚不赔。")), True),
    ("prohibited_promise", "百分之百 (ITN)", (OPEN, (A, "这个钱百分之百能给您退回来。")), True),
    ("prohibited_promise", "一定给您免", (OPEN, (A, "年费我一定给您免掉。")), True),
    ("prohibited_promise", "advice", (OPEN, (A, "您一定要通过官方渠道办理。")), False),
    ("prohibited_promise", "cannot guarantee", (OPEN, (A, "但是不能保证一定能批下来。")), False),
    ("prohibited_promise", "not capital-protected", (OPEN, (A, "这款产品不保本，有风险。")), False),
    ("refund_request", "asks", (OPEN, (C, "你们把这个年费给我退了。")), True),
    ("refund_request", "ASR 推费", (OPEN, (C, "我要推费，这个费不合理。")), True),
    ("refund_request", "annual fee", (OPEN, (C, "我要退年费，这卡我根本没用过。")), True),
    ("refund_request", "negated", (OPEN, (C, "我不是要退费，就问一下。")), False),
    ("refund_request", "agent says it", (OPEN, (A, "这笔退款会在三天内入账。")), False),
    ("refund_request", "hypothetical", (OPEN, (C, "要是扣了年费还能退吗？我先问问。")), False),
    ("complaint_escalation", "regulator", (OPEN, (C, "我要打12378投诉你们。")), True),
    ("complaint_escalation", "higher level", (OPEN, (C, "你让我找你们领导说。")), True),
    ("complaint_escalation", "report", (OPEN, (C, "再这样我就去银保监会举报你们。")), True),
    ("complaint_escalation", "negated", (OPEN, (C, "我没说要投诉，就是着急。")), False),
    ("complaint_escalation", "agent offers channel", (OPEN, (A, "您也可以通过投诉渠道反馈。")),
     False),
    ("cancel_intent", "asks", (OPEN, (C, "我要把这张卡给我停掉，销户。")), True),
    ("cancel_intent", "ASR 消户", (OPEN, (C, "我想把信用卡消户。")), True),
    ("cancel_intent", "does not want the card", (OPEN, (C, "这卡我不要了，给我注销掉。")), True),
    ("cancel_intent", "negated", (OPEN, (C, "我不是要销卡，卡我还要用。")), False),
    ("cancel_intent", "agent explains", (OPEN, (A, "销卡需要先还清欠款。")), False),
]


@pytest.mark.parametrize(
    ("label", "turns", "expected"),
    [pytest.param(label, turns, expected, id=f"{label}-{name}")
     for label, name, turns, expected in CASES],
)  # fmt: skip
def test_label_reading(
    pack: RulePack, label: str, turns: tuple[tuple[str, str], ...], expected: Prediction
) -> None:
    result = run(pack, *turns)
    assert result.predictions[label] == expected, [h.reason for h in result.hits]


def test_greeting_after_15_seconds_does_not_count(pack: RulePack) -> None:
    call = timed((A, 0.5, 1.5, "喂？"),
                 (C, 2.0, 19.0, "喂，是人工吗？我等了好久了，我问一下账单的事情。"),
                 (A, 20.0, 26.0, "您好，工号3307为您服务。"))  # fmt: skip
    assert evaluate(pack, call).predictions["greeting"] is False


def test_closing_said_too_early_does_not_count(pack: RulePack) -> None:
    call = timed(OPEN_T, (A, 5.0, 9.0, "请问还有其他可以帮您的吗？"),
                 (C, 10.0, 14.0, "还有一件事。"),
                 (A, 15.0, 50.0, "好的，这个我给您说明一下具体流程，您先在手机上打开首页。"),
                 (A, 51.0, 53.0, "那就这样，拜拜。"))  # fmt: skip
    assert evaluate(pack, call).predictions["closing"] is False


OPEN_T = (A, 0.5, 4.0, "您好，工号3307为您服务。")


@pytest.mark.parametrize(("gap_s", "expected"), [(10.5, True), (10.0, False), (3.0, False)])
def test_long_silence_is_strictly_over_ten_seconds(
    pack: RulePack, gap_s: float, expected: bool
) -> None:
    call = timed(OPEN_T, (C, 4.5, 6.0, "好的。"), (A, 6.0 + gap_s, 9.0 + gap_s, "让您久等了。"))
    assert evaluate(pack, call).predictions["long_silence"] is expected


@pytest.mark.parametrize(
    ("agent_text", "mono", "expected"),
    [("我跟您说，这个不行", False, True), ("嗯嗯", False, False),
     ("我跟您说，这个不行", True, None)],
)
def test_interruption(pack: RulePack, agent_text: str, mono: bool, expected: Prediction) -> None:
    call = timed(OPEN_T, (C, 5.0, 12.0, "我这个月的账单怎么这么多，我想问一下"),
                 (A, 10.0, 13.0, agent_text))  # fmt: skip
    result = evaluate(pack, call, "mono" if mono else "stereo")
    assert result.predictions["agent_interruption"] is expected


def test_mono_call(pack: RulePack) -> None:
    call = conversation(OPEN, (C, "你们白金卡年费多少？"), (A, "两千元，首年免年费。"), CLOSE)
    result = evaluate(pack, call, "mono")
    assert result.predictions["agent_interruption"] is None
    assert (result.predictions["greeting"], result.predictions["closing"]) == (True, True)
    assert (result.score, result.flagged) == (100, False)  # what does not apply keeps its points


def test_fast_speech(pack: RulePack) -> None:
    text = "好的先生这边帮您查询一下您本期的账单金额以及最后还款日期稍等一下马上就好"
    fast = timed(OPEN_T, (A, 5.0, 11.0, text))
    assert evaluate(pack, fast).predictions["agent_fast_speech"] is True  # 37 chars in 6 s
    assert run(pack, OPEN, CLOSE).predictions["agent_fast_speech"] is False  # 240 per minute


def test_customer_sentiment_at_the_end(pack: RulePack) -> None:
    happy = run(pack, OPEN, (C, "太感谢了，你们服务真好。"), CLOSE, (C, "谢谢你啊，真耐心。"))
    angry = run(pack, OPEN, (C, "你们这服务太差了，我非常生气！"), CLOSE, (C, "什么破银行！"))
    assert happy.predictions["customer_sentiment_end"] == "positive"
    assert angry.predictions["customer_sentiment_end"] == "negative"
    assert "客户结束情绪为负面" in angry.flag_reasons


def test_forbidden_language_counts_per_segment(pack: RulePack) -> None:
    one = run(pack, OPEN, (A, "你听不懂吗？我都说了好几遍了。"), CLOSE)
    two = run(pack, OPEN, (A, "你听不懂吗？"), (C, "啊？"), (A, "我都讲了三遍了。"), CLOSE)
    assert (one.occurrences["forbidden_language"], one.score) == (1, 85)
    assert (two.occurrences["forbidden_language"], two.score) == (2, 70)
    assert two.flagged and "得分 70 低于 80 分" in two.flag_reasons


def test_hits_carry_chinese_reasons_and_evidence(pack: RulePack) -> None:
    result = run(pack, OPEN, (C, "我要打12378投诉你们。"), CLOSE)
    (hit,) = [h for h in result.hits if h.rule_key == "complaint_escalation"]
    assert hit.reason.startswith("客户表示要向监管、媒体或上级投诉：「投诉」")
    assert [e.segment_id for e in hit.evidence] == [1]  # ids are segment indexes


GOOD: dict[str, Any] = {
    "greeting": True, "identity_verified": True, "risk_disclosure": None, "closing": True,
    "forbidden_language": False, "prohibited_promise": False, "refund_request": False,
    "complaint_escalation": False, "cancel_intent": False, "customer_sentiment_end": "neutral",
    "long_silence": False, "agent_interruption": False, "agent_fast_speech": False,
}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "counts", "score", "flagged"),
    [
        ({}, {}, 100, False),
        ({"identity_verified": None, "agent_interruption": None}, {}, 100, False),
        ({"forbidden_language": True, "agent_fast_speech": True}, {}, 80, False),
        ({"forbidden_language": True}, {"forbidden_language": 2}, 70, True),
        ({"agent_interruption": True}, {"agent_interruption": 3}, 85, False),
        ({"greeting": False, "closing": False}, {}, 80, False),
        ({"greeting": False, "closing": False, "long_silence": True}, {}, 75, True),
        ({"forbidden_language": True}, {"forbidden_language": 9}, 0, True),
        ({"prohibited_promise": True}, {}, 0, True),
        ({"identity_verified": False}, {}, 0, True),
        ({"risk_disclosure": False}, {}, 0, True),
        ({"risk_disclosure": True}, {}, 100, False),
        ({"complaint_escalation": True}, {}, 100, True),
        ({"customer_sentiment_end": "negative"}, {}, 100, True),
        ({"refund_request": True, "cancel_intent": True}, {}, 100, False),
    ],
)
def test_scorecard(
    pack: RulePack, changes: dict[str, Any], counts: dict[str, int], score: int, flagged: bool
) -> None:
    result = pack.scorecard.score({**GOOD, **changes}, counts)
    assert (result.score, result.flagged) == (score, flagged)
    assert bool(result.reasons) == flagged


def test_critical_reasons_are_chinese(pack: RulePack) -> None:
    result = pack.scorecard.score({**GOOD, "prohibited_promise": True, "identity_verified": False})
    assert result.critical == ("prohibited_promise", "identity_verified")
    assert result.reasons[:2] == (
        "严重项：违规承诺出现（记 0 分）", "严重项：身份核实不合格（记 0 分）"
    )


def test_call_from_document() -> None:
    spoken = "幺三八幺二三四五六七八"
    doc = {"channel_layout": "mono", "duration_ms": 9000, "labels": {"greeting": True},
           "segments": [{"role": "customer", "start_ms": 0, "end_ms": 3000, "text": spoken},
                        {"role": "agent", "start_ms": 3000, "end_ms": 5000, "text": "好的。"}]}
    call = call_from_document(doc)
    assert call.channel_layout == "mono" and call.duration_ms == 9000
    assert call.segments[0] == Seg(0, "customer", 0, 3000, "13812345678", spoken)
    assert call.segments[1].id == 1
    with pytest.raises(RulePackError, match="第 1 个片段的时间无效"):
        call_from_document(
            {"segments": [{"role": "agent", "start_ms": 5, "end_ms": 1, "text": "x"}]}
        )


def _pack_doc(**changes: Any) -> dict[str, Any]:
    doc = json.loads((PACK_DIR / "standard.json").read_text(encoding="utf-8"))
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": {"x": {"rule": "nope", "true_when": "fired"}}}, "不存在的规则「nope」"),
        ({"labels": {"x": {"rule": "long_silence", "true_when": "yes"}}}, "true_when"),
        ({"labels": {"x": {"rule": "long_silence", "true_when": "fired",
                           "null_when": "not_applies"}}}, "没有前置条件"),
        ({"scorecard": {"points": {"nope": 5}}}, "不存在的质检项「nope」"),
        ({"rules": [{"key": "bad", "severity": "huge", "operators": {"1": {"type": "silence"}}}]},
         "严重级别"),
        ({"version": 0}, "version"),
    ],
)  # fmt: skip
def test_invalid_packs_are_rejected_with_chinese_messages(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(RulePackError, match=message):
        RulePack.from_document(_pack_doc(**changes))


def test_load_and_resolve(tmp_path: Path) -> None:
    assert resolve_pack("standard") == PACK_DIR / "standard.json"
    assert resolve_pack("my/pack.json") == Path("my/pack.json")
    pack = RulePack.load(PACK_DIR / "standard.json")
    assert (pack.name, pack.title, pack.version) == ("standard", "标准服务质检表", 1)
    assert set(pack.labels) == set(GOOD)
    with pytest.raises(RulePackError, match="无法读取"):
        RulePack.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(RulePackError, match="不是有效的 UTF-8 JSON"):
        RulePack.load(tmp_path / "broken.json")

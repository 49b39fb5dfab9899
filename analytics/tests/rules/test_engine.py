import logging
from types import SimpleNamespace
from typing import Any

import pytest

from analytics.rules import external_ops
from analytics.rules.automaton import available_backends
from analytics.rules.engine import compile_rule_set
from analytics.rules.spec import RuleSpecError
from analytics.rules.types import Call, Evidence, OperatorResult
from analytics.tests.rules.factories import GREETING_RULE, conversation, outcomes, rule, timed

REFUND_RULE = {
    "key": "refund_request",
    "name": "退费诉求",
    "severity": "info",
    "explanation": "客户要求退费{evidence}",
    "operators": {
        "1": {
            "type": "keywords",
            "role": "customer",
            "any": ["退费", "退款", "退钱"],
            "pinyin": True,
        }
    },
}
RUDE_RULE = {
    "key": "forbidden_language",
    "name": "服务禁语",
    "severity": "major",
    "explanation": "坐席使用禁语{evidence}",
    "operators": {
        "1": {
            "type": "keywords",
            "role": "agent",
            "negation": "include",
            "any": ["这不归我管", "我也没办法", "你听不懂吗"],
        }
    },
}
PITCH_RULE = {
    "key": "investment_pitch",
    "name": "推介理财",
    "severity": "info",
    "explanation": "",
    "operators": {
        "1": {"type": "keywords", "role": "agent", "any": ["理财", "基金"], "pinyin": True}
    },
}
RISK_RULE = {
    "key": "risk_disclosure_missing",
    "name": "缺少风险提示",
    "severity": "critical",
    "explanation": "推介理财产品时未做风险提示",
    "precondition": {"rule": "investment_pitch"},
    "operators": {
        "1": {"type": "keywords", "role": "agent", "any": ["有风险", "需谨慎", "不保本"]}
    },
    "condition": "!1",
}
PACK = [GREETING_RULE, REFUND_RULE, RUDE_RULE, PITCH_RULE, RISK_RULE]

GOOD_CALL = timed(
    ("agent", 1.0, 9.0, "您好，恒嘉银行信用卡中心，工好1023为您服务"),
    ("customer", 10.0, 14.0, "我不是要推费啊，就是问问年费"),
    ("agent", 15.0, 30.0, "好的，给您推荐一款理才产品，理财有风险，投资需谨慎"),
)
BAD_CALL = timed(
    ("agent", 1.0, 9.0, "喂，请讲"),
    ("customer", 10.0, 14.0, "我要退费，不退费我就投诉"),
    ("agent", 83.0, 90.0, "这不归我管，你去找理财经理"),
)


def fired(call: Call, rules: list[dict[str, Any]] = PACK) -> dict[str, bool]:
    return {key: o.fired for key, o in outcomes(rules, call).items()}


def test_a_well_run_call_fires_nothing() -> None:
    assert fired(GOOD_CALL) == {
        "missing_greeting": False,
        "refund_request": False,
        "forbidden_language": False,
        "investment_pitch": True,
        "risk_disclosure_missing": False,
    }


def test_a_badly_run_call_fires_every_violation() -> None:
    assert fired(BAD_CALL) == {
        "missing_greeting": True,
        "refund_request": True,
        "forbidden_language": True,
        "investment_pitch": True,
        "risk_disclosure_missing": True,
    }


def test_one_automaton_serves_every_rule() -> None:
    rules = [rule(f"r{i}", op1={"type": "keywords", "any": [f"词{i}", "退费"]}) for i in range(200)]
    rules.append(rule("re", op1={"type": "regex", "pattern": "保证.{0,4}收益"}))
    compiled = compile_rule_set(rules, version="v1")
    assert compiled.automaton_count == 1
    assert compiled.keyword_count == 200 + 1 + 1  # 退费 once, plus a literal the regex needs
    result = compiled.evaluate(conversation(("customer", "我要退费，词7")))
    assert sum(o.fired for o in result) == 200


def test_pinyin_adds_exactly_one_more_automaton() -> None:
    assert compile_rule_set(PACK, version="v1").automaton_count == 2
    assert compile_rule_set([RUDE_RULE], version="v1").automaton_count == 1


def test_outcomes_come_in_rule_order_with_ids_from_positions_unless_given() -> None:
    rules = [dict(RUDE_RULE), dict(REFUND_RULE, id=42)]
    result = compile_rule_set(rules, version="v1").evaluate(BAD_CALL)
    assert [(o.rule_id, o.rule_key) for o in result] == [
        (0, "forbidden_language"),
        (42, "refund_request"),
    ]
    assert result[1].hit is not None and result[1].hit.rule_id == 42


def test_a_hit_carries_severity_evidence_and_a_chinese_reason() -> None:
    hit = outcomes(PACK, BAD_CALL)["forbidden_language"].hit
    assert hit is not None
    assert hit.severity == "major"
    assert hit.reason == "坐席使用禁语：「这不归我管」(01:23)"
    (evidence,) = hit.evidence
    assert (evidence.segment_id, evidence.text) == (3, "这不归我管")


def test_a_reason_counts_further_evidence() -> None:
    hit = outcomes(PACK, BAD_CALL)["refund_request"].hit
    assert hit is not None
    assert hit.reason == "客户要求退费：「退费」(00:10)等 2 处"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (
            "命中{evidence}，规则 {name}（{key}），共 {count} 处",
            "命中：「退费」(00:01)，规则 r（r），共 1 处",
        ),
        ("{nope} 与 {evidence}", "{nope} 与 ：「退费」(00:01)"),
        ("括号没关 {evidence", "括号没关 {evidence"),
        ("{0} {evidence}", "{0} ：「退费」(00:01)"),
        ("", "r：「退费」(00:01)"),
    ],
)
def test_a_broken_reason_template_never_stops_the_analysis(template: str, reason: str) -> None:
    doc = rule("r", op1={"type": "keywords", "any": ["退费"]})
    doc["explanation"] = template
    hit = outcomes([doc], conversation(("customer", "退费")))["r"].hit
    assert hit is not None and hit.reason == reason


def test_a_rule_whose_precondition_rule_did_not_fire_does_not_apply() -> None:
    call = conversation(("agent", "您好，工号1023"), ("customer", "查一下账单"))
    result = outcomes(PACK, call)["risk_disclosure_missing"]
    assert (result.applies, result.fired, result.hit) == (False, False, None)


def test_an_inline_precondition_works_like_a_referenced_rule() -> None:
    doc = dict(
        RISK_RULE,
        precondition={
            "operators": {
                "1": {"type": "keywords", "role": "agent", "any": ["理财"], "pinyin": True}
            },
            "condition": "1",
        },
    )
    assert outcomes([doc], BAD_CALL)["risk_disclosure_missing"].fired
    assert not outcomes([doc], conversation(("agent", "您好")))["risk_disclosure_missing"].applies


def test_a_precondition_may_name_a_rule_defined_later() -> None:
    result = outcomes([RISK_RULE, PITCH_RULE], BAD_CALL)
    assert result["risk_disclosure_missing"].fired


def test_compiling_an_invalid_rule_set_lists_every_problem() -> None:
    broken = dict(RISK_RULE, precondition={"rule": "nowhere"})
    with pytest.raises(RuleSpecError) as raised:
        compile_rule_set([broken, dict(REFUND_RULE, severity="urgent")], version="v1")
    assert len(raised.value.errors) == 2


def test_the_version_is_kept() -> None:
    assert compile_rule_set(PACK, version="2026-11-25.3").version == "2026-11-25.3"


@pytest.mark.parametrize("backend", available_backends())
def test_every_automaton_backend_gives_the_same_outcomes(backend: str) -> None:
    reference = compile_rule_set(PACK, version="v1", backend="pyahocorasick")
    compiled = compile_rule_set(PACK, version="v1", backend=backend)
    assert compiled.automaton_backend == backend
    for call in (GOOD_CALL, BAD_CALL, conversation()):
        assert compiled.evaluate(call) == reference.evaluate(call)


def test_rules_a_call_does_not_touch_reuse_their_precomputed_outcome() -> None:
    compiled = compile_rule_set(PACK, version="v1")
    assert compiled.static_rule_count == len(PACK)
    quiet = conversation(("agent", "喂"))
    first, second = compiled.evaluate(quiet), compiled.evaluate(conversation(("customer", "嗯")))
    assert first[0] is second[0]  # the same missing-greeting outcome object
    assert (
        first[0].fired
        and first[0].hit is not None
        and first[0].hit.reason == "坐席未在开场 15 秒内问候并自报工号"
    )
    assert compiled.evaluate(GOOD_CALL)[0].fired is False


def fake_metrics(**behaviour: Any) -> SimpleNamespace:
    calls: list[str] = []

    def evaluate_metric(spec: dict[str, Any], call: Call) -> OperatorResult:
        calls.append(spec["type"])
        if spec["type"] == "boom":
            raise ZeroDivisionError("division by zero")
        return OperatorResult(
            matched=True, evidence=(Evidence(None, start_ms=12_000, note="静音 12.3 秒"),)
        )

    return SimpleNamespace(
        METRIC_TYPES=frozenset({"boom", "count"}),
        validate_metric=lambda spec: [],
        evaluate_metric=evaluate_metric,
        calls=calls,
        **behaviour,
    )


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    module = fake_metrics()
    monkeypatch.setitem(external_ops._loaded, "metrics", module)
    return module


def test_a_rule_that_raises_is_reported_and_the_others_still_run(
    metrics: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    rules = [rule("broken", op1={"type": "boom"}), REFUND_RULE]
    with caplog.at_level(logging.ERROR, logger="analytics.rules.engine"):
        result = outcomes(rules, BAD_CALL)
    assert result["broken"].error == "ZeroDivisionError: division by zero"
    assert (result["broken"].applies, result["broken"].fired) == (False, False)
    assert result["refund_request"].fired
    assert "broken" in caplog.text


def test_a_rule_needing_a_failed_rule_fails_too(metrics: SimpleNamespace) -> None:
    rules = [
        rule("broken", op1={"type": "boom"}),
        dict(REFUND_RULE, precondition={"rule": "broken"}),
    ]
    assert "前置规则「broken」运行出错" in outcomes(rules, BAD_CALL)["refund_request"].error


def test_an_operator_shared_by_several_rules_runs_once_per_call(metrics: SimpleNamespace) -> None:
    shared = {"type": "count"}
    compiled = compile_rule_set([rule(f"r{i}", op1=shared) for i in range(5)], version="v1")
    assert compiled.static_rule_count == 0
    compiled.evaluate(GOOD_CALL)
    compiled.evaluate(BAD_CALL)
    assert metrics.calls == ["count", "count"]


def test_a_metric_hit_quotes_its_note(metrics: SimpleNamespace) -> None:
    hit = outcomes([rule("silence", op1={"type": "count"})], GOOD_CALL)["silence"].hit
    assert hit is not None and hit.reason == "silence：静音 12.3 秒(00:12)"


def test_the_call_sentiment_is_computed_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[Call] = []

    def call_sentiment(call: Call) -> str:
        computed.append(call)
        return "negative"

    module = SimpleNamespace(
        validate_sentiment=lambda spec: [],
        call_sentiment=call_sentiment,
        evaluate_sentiment=lambda spec, call, sentiment: OperatorResult(
            matched=sentiment == spec["label"]
        ),
    )
    monkeypatch.setitem(external_ops._loaded, "sentiment", module)
    rules = [
        rule(label, op1={"type": "sentiment", "label": label})
        for label in ("negative", "neutral", "positive")
    ]
    result = outcomes(rules, BAD_CALL)
    assert [o.fired for o in result.values()] == [True, False, False]
    assert computed == [BAD_CALL]


@pytest.mark.skipif(
    "silence" not in external_ops.available_types(), reason="metrics.py not present"
)
def test_the_real_metric_operators_run_through_the_engine() -> None:
    call = timed(("agent", 1.0, 5.0, "请您稍等"), ("agent", 19.0, 25.0, "感谢您的耐心等待"))
    doc = rule("long_silence", op1={"type": "silence", "min_ms": 10_000})
    assert outcomes([doc], call)["long_silence"].fired

import copy
from typing import Any

import pytest

from analytics.rules.expr import And, Not, Ref
from analytics.rules.operator_spec import KeywordsOp, OrderOp, RegexOp, Window
from analytics.rules.spec import (
    ConditionBlock,
    RuleRef,
    RuleSpecError,
    parse_rule,
    validate_rule_set,
)
from analytics.tests.rules.factories import GREETING_RULE

GREETING = GREETING_RULE


def with_changes(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GREETING)
    doc.update(changes)
    return doc


def with_op(op: Any, number: str = "1") -> dict[str, Any]:
    doc = copy.deepcopy(GREETING)
    doc["operators"][number] = op
    return doc


def test_the_documented_example_parses_into_frozen_dataclasses() -> None:
    spec = parse_rule(GREETING, index=4)
    assert (spec.id, spec.key, spec.name, spec.severity) == (
        4,
        "missing_greeting",
        "缺少开场白",
        "major",
    )
    assert spec.body.condition == Not(And(Ref(1), Ref(2)))
    first = spec.body.operators[1]
    assert isinstance(first, KeywordsOp)
    assert (first.role, first.mode, first.keywords) == ("agent", "any", ("您好", "你好"))
    assert first.window == Window(first_s=15.0)
    assert spec.body.operators[2].match.pinyin is True  # type: ignore[union-attr]
    with pytest.raises(AttributeError):
        spec.key = "other"  # type: ignore[misc]


def test_an_explicit_id_wins_over_the_position() -> None:
    assert parse_rule(with_changes(id=77), index=3).id == 77


def test_a_missing_condition_means_every_operator_must_match() -> None:
    doc = with_changes()
    del doc["condition"]
    assert parse_rule(doc).body.condition == And(Ref(1), Ref(2))


def test_keywords_are_normalised_like_transcripts() -> None:
    spec = parse_rule(with_op({"type": "keywords", "any": ["九五五八八", " 工号 ", "工号"]}))
    assert spec.body.operators[1].keywords == ("95588", "工号")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (with_changes(severity="fatal"), "严重级别 severity「fatal」无效"),
        (with_changes(key="有空格 的key"), "key 必须是"),
        (with_changes(id=-1), "id 必须是非负整数"),
        (with_changes(operators={}), "operators 必须是非空对象"),
        (with_changes(condition="1 && 3"), "条件表达式引用了不存在的算子 3"),
        (with_changes(condition="1 & 2"), "无法识别的符号「&」"),
        (with_changes(colour="red"), "不认识的字段「colour」"),
        (with_op({"type": "keywords", "any": []}), "关键词列表为空"),
        (with_op({"type": "keywords", "any": ["退费", ""]}), "关键词必须是非空字符串"),
        (with_op({"type": "keywords", "any": ["a"], "all": ["b"]}), "必须恰好出现一个"),
        (with_op({"type": "keywords", "anyy": ["a"]}), "必须恰好出现一个"),
        (with_op({"type": "keywords", "any": ["a"], "colour": 1}), "不认识字段「colour」"),
        (with_op({"type": "keywords", "none": ["a"], "min_count": 2}), "不能再设 min_count"),
        (with_op({"type": "keywords", "any": ["a"], "min_count": 0}), "min_count"),
        (with_op({"type": "keywords", "at_least": {"n": 3, "of": ["a", "b"]}}), "at_least.n"),
        (with_op({"type": "keywords", "any": ["a"], "role": "boss"}), "role 只能是"),
        (with_op({"type": "keywords", "any": ["a"], "negation": "maybe"}), "negation 只能是"),
        (with_op({"type": "keywords", "any": ["a"], "pinyin_threshold": 1.5}), "pinyin_threshold"),
        (with_op({"type": "regex", "pattern": "(退费"}), "正则表达式无效"),
        (with_op({"type": "regex", "pattern": "退费|"}), "能匹配空字符串"),
        (
            with_op({"type": "regex", "pattern": "退费", "exclude": "[不"}),
            "exclude：正则表达式无效",
        ),
        (with_op({"type": "regex", "pattern": "a", "timeout_s": 10}), "timeout_s"),
        (with_op({"type": "proximity", "a": ["a"], "b": ["b"]}), "within_chars 与 within_segments"),
        (
            with_op({"type": "proximity", "a": ["a"], "b": [], "within_chars": 3}),
            "b：关键词列表为空",
        ),
        (
            with_op({"type": "order", "first": {"any": ["a"]}, "then": {"none": ["b"]}}),
            "不能使用 none",
        ),
        (
            with_op(
                {
                    "type": "order",
                    "first": {"any": ["a"]},
                    "then": {"any": ["b"]},
                    "require": "whenever",
                }
            ),
            "require 只能是",
        ),
        (with_op({"type": "teleport"}), "未知的算子类型「teleport」"),
        (with_op({"any": ["a"]}), "缺少算子类型 type"),
        (with_op("退费"), "必须是 JSON 对象"),
        (
            with_changes(operators={"one": {"type": "keywords", "any": ["a"]}}),
            "算子编号「one」必须是正整数",
        ),
        (with_changes(precondition={"rule": 5}), "precondition.rule"),
        (with_changes(precondition={"when": "always"}), "前置条件 precondition 只能是"),
        (
            with_changes(precondition={"operators": {"1": {"type": "keywords", "any": []}}}),
            "前置条件 算子 1 any：关键词列表为空",
        ),
    ],
)
def test_it_rejects_an_invalid_rule_with_a_chinese_message(doc: Any, message: str) -> None:
    with pytest.raises(RuleSpecError) as raised:
        parse_rule(doc)
    assert message in str(raised.value)
    assert all(
        error.startswith("规则「") or error.startswith("第 ") for error in raised.value.errors
    )


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({"first_s": 15}, Window(first_s=15.0)),
        ({"last_s": 30}, Window(last_s=30.0)),
        ({"last_s": 30, "of": "role"}, Window(last_s=30.0, of_role=True)),
        ({"from_pct": 20, "to_pct": 80}, Window(from_pct=20.0, to_pct=80.0)),
        ({"to_pct": 50}, Window(from_pct=0.0, to_pct=50.0)),
    ],
)
def test_it_accepts_each_window_form(window: dict[str, Any], expected: Window) -> None:
    op = {"type": "keywords", "role": "agent", "any": ["a"], "window": window}
    assert parse_rule(with_op(op)).body.operators[1].window == expected  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("window", "role"),
    [
        ({"first_s": 0}, "agent"),
        ({"first_s": -5}, "agent"),
        ({"first_s": "15"}, "agent"),
        ({"first_s": 15, "last_s": 30}, "agent"),
        ({"last_s": 30, "of": "role"}, "any"),
        ({"last_s": 30, "of": "speaker"}, "agent"),
        ({"from_pct": 80, "to_pct": 20}, "agent"),
        ({"from_pct": 0, "to_pct": 120}, "agent"),
        ({"middle": True}, "agent"),
        ({}, "agent"),
        ([15], "agent"),
    ],
)
def test_it_rejects_a_bad_window(window: Any, role: str) -> None:
    op = {"type": "keywords", "role": role, "any": ["a"], "window": window}
    with pytest.raises(RuleSpecError, match="时间窗口"):
        parse_rule(with_op(op))


def test_one_error_list_reports_every_problem_of_a_rule() -> None:
    doc = with_changes(severity="x", condition="1 && 9")
    doc["operators"]["2"] = {"type": "regex", "pattern": "("}
    with pytest.raises(RuleSpecError) as raised:
        parse_rule(doc)
    assert len(raised.value.errors) == 3


def test_order_halves_inherit_the_order_role_and_window() -> None:
    op = {
        "type": "order",
        "role": "agent",
        "window": {"first_s": 60},
        "first": {"any": ["核实"]},
        "then": {"any": ["账单"], "role": "any"},
    }
    order = parse_rule(with_op(op)).body.operators[1]
    assert isinstance(order, OrderOp)
    assert (order.first.role, order.then.role) == ("agent", "any")
    assert order.first.window == order.then.window == Window(first_s=60.0)


def test_a_regex_operator_keeps_its_pattern_and_timeout() -> None:
    op = parse_rule(with_op({"type": "regex", "pattern": "保证.{0,4}收益", "timeout_s": 0.1}))
    assert op.body.operators[1] == RegexOp("any", None, "保证.{0,4}收益", None, 0.1)


def test_preconditions_parse_as_rule_references_or_inline_blocks() -> None:
    by_key = parse_rule(with_changes(precondition={"rule": "investment_pitch"}))
    assert by_key.precondition == RuleRef("investment_pitch")
    inline = parse_rule(
        with_changes(
            precondition={
                "operators": {"1": {"type": "keywords", "any": ["理财"]}},
                "condition": "1",
            }
        )
    )
    assert isinstance(inline.precondition, ConditionBlock)


def rule_named(key: str, requires: str | None = None, **extra: Any) -> dict[str, Any]:
    return with_changes(key=key, precondition={"rule": requires} if requires else None, **extra)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([rule_named("a", "a")], "前置条件存在循环引用：a → a"),
        ([rule_named("a", "b"), rule_named("b", "a")], "前置条件存在循环引用：a → b → a"),
        ([rule_named("a", "b"), rule_named("b", "c"), rule_named("c", "a")], "a → b → c → a"),
        ([rule_named("a", "ghost")], "前置条件引用了不存在的规则「ghost」"),
        ([rule_named("a"), rule_named("a")], "规则 key「a」重复"),
        ([rule_named("a", id=1), rule_named("b", id=1)], "id 1 与规则「a」重复"),
        ([rule_named("a"), with_changes(key="b", severity="x")], "规则「b」：严重级别"),
    ],
)
def test_a_rule_set_is_checked_as_a_whole(rules: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(RuleSpecError) as raised:
        validate_rule_set(rules)
    assert message in str(raised.value)


def test_a_cycle_is_reported_once_however_many_rules_lead_into_it() -> None:
    rules = [rule_named("a", "b"), rule_named("b", "a"), rule_named("c", "a")]
    with pytest.raises(RuleSpecError) as raised:
        validate_rule_set(rules)
    assert sum("循环引用" in e for e in raised.value.errors) == 1


def test_a_valid_rule_set_gets_ids_from_positions() -> None:
    specs = validate_rule_set([rule_named("a"), rule_named("b", "a"), rule_named("c", "b")])
    assert [(s.id, s.key) for s in specs] == [(0, "a"), (1, "b"), (2, "c")]


def test_metric_operators_are_validated_by_the_metrics_module() -> None:
    spec = parse_rule(with_op({"type": "silence", "min_ms": 10000}))
    assert spec.body.operators[1].type == "silence"  # type: ignore[union-attr]
    with pytest.raises(RuleSpecError, match="算子 1："):
        parse_rule(with_op({"type": "silence", "min_ms": -1}))


def test_sentiment_operators_are_validated_by_the_sentiment_module() -> None:
    spec = parse_rule(with_op({"type": "sentiment", "role": "customer", "scope": "end",
                               "label": "negative"}))
    assert spec.body.operators[1].type == "sentiment"  # type: ignore[union-attr]
    with pytest.raises(RuleSpecError, match="算子 1："):
        parse_rule(with_op({"type": "sentiment", "role": "customer", "scope": "someday"}))

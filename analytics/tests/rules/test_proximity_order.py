from typing import Any

import pytest

from analytics.tests.rules.factories import conversation, matches, single, texts, timed

CALL = conversation(
    ("customer", "我想把这张卡销了，年费太贵"),  # 销了，年费: one character between
    ("agent", "好的，我先帮您看一下"),
    ("customer", "另外手续费能退吗"),
    ("agent", "这个手续费是可以退回的"),
)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ({"a": ["销了"], "b": ["年费"], "within_chars": 1}, True),
        ({"a": ["销了"], "b": ["年费"], "within_chars": 0}, False),
        ({"a": ["年费"], "b": ["销了"], "within_chars": 1}, True),  # either order
        ({"a": ["手续费"], "b": ["退"], "within_chars": 1}, True),
        ({"a": ["手续费"], "b": ["退"], "within_chars": 1, "role": "agent"}, False),
        ({"a": ["手续费"], "b": ["退"], "within_chars": 3, "role": "agent"}, True),
        ({"a": ["销了"], "b": ["手续费"], "within_chars": 50}, False),  # other segment
        ({"a": ["销了"], "b": ["手续费"], "within_segments": 1}, False),
        ({"a": ["销了"], "b": ["手续费"], "within_segments": 2}, True),
        ({"a": ["销了"], "b": ["年费"], "within_segments": 0}, True),
        ({"a": ["销了"], "b": ["投诉"], "within_segments": 3}, False),
        ({"a": ["投诉"], "b": ["销了"], "within_segments": 3}, False),
    ],
)
def test_proximity_finds_a_near_b(op: dict[str, Any], expected: bool) -> None:
    assert matches({"type": "proximity", **op}, CALL) is expected


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        # "手续费 not within 1 character of 退": the customer's is, the agent's is not.
        ({"a": ["手续费"], "b": ["退"], "within_chars": 1}, ["手续费"]),
        ({"a": ["手续费"], "b": ["退"], "within_chars": 3}, []),
        ({"a": ["投诉"], "b": ["退"], "within_chars": 3}, []),  # no A at all
        ({"a": ["年费"], "b": ["投诉"], "within_segments": 5}, ["年费"]),  # no B at all
    ],
)
def test_negated_proximity_reports_the_lonely_a(op: dict[str, Any], expected: list[str]) -> None:
    result = single({"type": "proximity", "negate": True, **op}, CALL)
    assert result.matched is bool(expected)
    assert texts(result) == expected


def test_proximity_evidence_holds_both_sides() -> None:
    op = {"type": "proximity", "a": ["销了"], "b": ["年费"], "within_chars": 2}
    assert texts(single(op, CALL)) == ["销了", "年费"]


def test_proximity_ignores_negated_mentions_by_default() -> None:
    call = conversation(("customer", "我不想销卡，就是年费太贵"))
    op = {"type": "proximity", "a": ["销卡"], "b": ["年费"], "within_chars": 10}
    assert not matches(op, call)
    assert matches({**op, "negation": "include"}, call)


VERIFY = {"any": ["核实", "验证码", "身份证"]}
DETAILS = {"any": ["账单", "还款日"]}

VERIFIED_FIRST = conversation(
    ("agent", "您好，我先核实一下您的身份，请报一下身份证后四位"),
    ("customer", "1234"),
    ("agent", "好的，您本期账单是三千元"),
)
DETAILS_FIRST = conversation(
    ("agent", "您本期账单是三千元，还款日是5号"),
    ("customer", "哦"),
    ("agent", "我再核实一下您的身份"),
)
NO_DETAILS = conversation(("agent", "我先核实一下您的身份"), ("customer", "好的"))
SAME_SEGMENT = conversation(("agent", "账单的事我先核实一下"))


@pytest.mark.parametrize(
    ("call", "require", "expected"),
    [
        (VERIFIED_FIRST, "first_before_then", True),
        (DETAILS_FIRST, "first_before_then", False),
        (NO_DETAILS, "first_before_then", False),
        (SAME_SEGMENT, "first_before_then", False),  # 账单 is said before 核实
        (VERIFIED_FIRST, "then_before_first", False),
        (DETAILS_FIRST, "then_before_first", True),
        (NO_DETAILS, "then_before_first", False),  # nothing disclosed, nothing to flag
        (conversation(("agent", "您本期账单是三千元")), "then_before_first", True),
    ],
)
def test_order_compares_when_each_side_first_happens(
    call: Any, require: str, expected: bool
) -> None:
    op = {"type": "order", "role": "agent", "first": VERIFY, "then": DETAILS, "require": require}
    assert matches(op, call) is expected


def test_order_evidence_shows_both_moments_in_time_order() -> None:
    op = {"type": "order", "first": VERIFY, "then": DETAILS, "require": "then_before_first"}
    result = single(op, DETAILS_FIRST)
    assert texts(result) == ["账单", "核实"]
    assert result.evidence[0].start_ms < result.evidence[1].start_ms


def test_order_uses_time_not_segment_position() -> None:
    # Segments listed out of time order, as two channels merged naively might be.
    call = timed(
        ("agent", 20.0, 25.0, "您本期账单是三千元"),
        ("agent", 2.0, 6.0, "我先核实一下您的身份"),
    )
    op = {"type": "order", "first": VERIFY, "then": DETAILS}
    assert matches(op, call)


def test_an_order_half_with_min_count_happens_at_its_nth_occurrence() -> None:
    call = conversation(
        ("agent", "核实一下"),
        ("agent", "账单三千"),
        ("agent", "再核实一下"),
        ("agent", "账单明细"),
    )
    op = {"type": "order", "first": {"any": ["核实"], "min_count": 2}, "then": DETAILS}
    assert not matches(op, call)
    assert matches({**op, "then": {"any": ["账单"], "min_count": 2}}, call)

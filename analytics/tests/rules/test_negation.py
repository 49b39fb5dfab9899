from typing import Any

import pytest

from analytics.rules.negation import is_negated
from analytics.tests.rules.factories import conversation, matches, single, texts


@pytest.mark.parametrize(
    ("text", "keyword", "negated"),
    [
        # Plain negators governing the keyword within four characters, same clause.
        ("我不是要退费", "退费", True),
        ("我不是要推费啊", "推费", True),
        ("我也不想销卡", "销卡", True),
        ("我没说要投诉啊", "投诉", True),
        ("我没有要求退款", "退款", True),
        ("并非要退费", "退费", True),
        ("您别投诉", "投诉", True),
        ("无需退费", "退费", True),
        ("不用销户了", "销户", True),
        ("不能保证一定能批下来", "保证", True),
        ("我这边没办法跟您保证一定能免掉", "保证", True),
        ("我没有说过我要退费", "退费", True),
        # Too far away, or another clause.
        ("我没有说过我一定要退费", "退费", False),
        ("我不知道，我想退费", "退费", False),
        ("这个不是退费，而是返现", "返现", False),
        ("不是查询而是退费", "退费", False),
        ("我是说不用了，退费吧", "退费", False),
        # Words that only contain a negator, and A-not-A questions.
        ("不好意思，我想退费", "退费", False),
        ("不过我还是想退费", "退费", False),
        ("我特别想退费", "退费", False),
        ("有没有退费", "退费", False),
        ("您要不要退费", "退费", False),
        ("是不是要投诉", "投诉", False),
        # Conditional demands: "不退费我就投诉" asks for the refund.
        ("不退费我就投诉", "退费", False),
        ("你们不给我退费的话我就打12378", "退费", False),
        ("你们不给我退费，我就去投诉", "退费", False),
        ("如果不退费，我会投诉", "退费", False),
        ("要是不给我退费就曝光你们", "退费", False),
        # ...but only with a bare 不; other negators stay negations.
        ("我不是要退费，就是问问", "退费", True),
        ("我没说要退费，我就问问", "退费", True),
        ("我不想退费的话", "退费", True),
        # No negator at all.
        ("我要退费", "退费", False),
        ("退费", "退费", False),
    ],
)
def test_the_negation_scope_rule(text: str, keyword: str, negated: bool) -> None:
    start = text.index(keyword)
    assert is_negated(text, start, start + len(keyword)) is negated


def test_the_negation_window_is_adjustable() -> None:
    text = "我没有说过我一定要退费"
    start = text.index("退费")
    assert not is_negated(text, start, start + 2)
    assert is_negated(text, start, start + 2, window=6)


CALL = conversation(
    ("customer", "我不是要退费啊，就问问。"),
    ("customer", "不退费我就投诉。"),
    ("customer", "退费的事先放一放。"),
)


@pytest.mark.parametrize(
    ("negation", "found"),
    [
        ("exclude", ["退费", "退费"]),
        ("include", ["退费", "退费", "退费"]),
        ("only", ["退费"]),
    ],
)
def test_operators_exclude_include_or_keep_only_negated_mentions(
    negation: str, found: list[str]
) -> None:
    result = single({"type": "keywords", "any": ["退费"], "negation": negation}, CALL)
    assert texts(result) == found
    segment_ids = [e.segment_id for e in result.evidence]
    assert segment_ids == {"exclude": [2, 3], "include": [1, 2, 3], "only": [1]}[negation]


@pytest.mark.parametrize(
    ("text", "negation", "expected"),
    [
        ("我不是要退费", "exclude", False),
        ("不退费我就投诉", "exclude", True),
        ("我不是要退费", "only", True),
        ("我要退费", "only", False),
    ],
)
def test_a_refund_request_rule_reads_negation_as_the_standard_does(
    text: str, negation: str, expected: bool
) -> None:
    op: dict[str, Any] = {
        "type": "keywords",
        "role": "customer",
        "any": ["退费"],
        "negation": negation,
    }
    assert matches(op, conversation(("customer", text))) is expected


def test_negation_applies_to_pinyin_matches_too() -> None:
    call = conversation(("customer", "我不是要推费啊"))
    assert not matches({"type": "keywords", "any": ["退费"], "pinyin": True}, call)

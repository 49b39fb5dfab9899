from typing import Any

import pytest

from analytics.tests.rules.factories import conversation, matches, single, texts, timed

REFUND_CALL = conversation(
    ("agent", "您好，工号1023，请问有什么可以帮您？"),
    ("customer", "我要退费，六百八的年费你们给我退款。"),
    ("agent", "好的，我帮您申请退款。"),
)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ({"any": ["退费", "退钱"]}, True),
        ({"any": ["退钱", "投诉"]}, False),
        ({"all": ["退费", "退款"]}, True),
        ({"all": ["退费", "投诉"]}, False),
        ({"none": ["投诉", "曝光"]}, True),
        ({"none": ["投诉", "退款"]}, False),
        ({"at_least": {"n": 2, "of": ["退费", "退款", "投诉"]}}, True),
        ({"at_least": {"n": 3, "of": ["退费", "退款", "投诉"]}}, False),
        ({"any": ["退费", "退款"], "min_count": 3}, True),
        ({"any": ["退费", "退款"], "min_count": 4}, False),
        ({"any": ["退款"], "role": "customer", "min_count": 2}, False),
        ({"any": ["请问有什么可以帮您"]}, True),
        ({"any": ["请问有什么可以帮您"], "role": "customer"}, False),
        ({"all": ["退费", "退款"], "role": "agent"}, False),
    ],
)
def test_keyword_modes_roles_and_counts(op: dict[str, Any], expected: bool) -> None:
    assert matches({"type": "keywords", **op}, REFUND_CALL) is expected


def test_every_occurrence_is_evidence_with_span_and_time() -> None:
    result = single({"type": "keywords", "role": "customer", "any": ["退费", "退款"]}, REFUND_CALL)
    assert texts(result) == ["退费", "退款"]
    first = result.evidence[0]
    assert (first.segment_id, first.char_start, first.char_end) == (2, 2, 4)
    segment = REFUND_CALL.segments[1]
    assert segment.start_ms <= first.start_ms < first.end_ms <= segment.end_ms


def test_a_keyword_inside_a_longer_keyword_counts_once() -> None:
    call = conversation(("customer", "我要申请退款"))
    op = {"type": "keywords", "any": ["退款", "申请退款"]}
    assert texts(single(op, call)) == ["申请退款"]
    assert not matches({**op, "min_count": 2}, call)


def test_all_still_sees_a_keyword_inside_another() -> None:
    call = conversation(("customer", "我要申请退款"))
    assert matches({"type": "keywords", "all": ["退款", "申请退款"]}, call)


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("九五五八八", "您可以拨打95588咨询"),
        ("幺二三七八", "我要打12378投诉你们"),
        ("12378", "我要打12378投诉你们"),
        ("百分之百", "这个100%能给您退回来"),
    ],
)
def test_spoken_numbers_in_keywords_match_normalised_text(keyword: str, text: str) -> None:
    assert matches({"type": "keywords", "any": [keyword]}, conversation(("agent", text)))


def test_latin_letters_match_regardless_of_case() -> None:
    call = conversation(("agent", "您可以在APP上查看"))
    assert texts(single({"type": "keywords", "any": ["app"]}, call)) == ["APP"]


GREETING = timed(
    ("agent", 1.0, 4.0, "喂，能听到吗？"),
    ("customer", 4.5, 6.0, "能听到。"),
    ("agent", 14.0, 20.0, "您好，工号1047为您服务。"),
    ("agent", 21.0, 40.0, "这个年费可以减免。"),
    ("customer", 41.0, 45.0, "好的谢谢。"),
    ("agent", 46.0, 50.0, "请问还有其他可以帮您的吗？"),
    ("customer", 51.0, 90.0, "没有了，我再说一下我的情况，还有其他问题……"),
)


@pytest.mark.parametrize(
    ("window", "role", "keyword", "expected"),
    [
        ({"first_s": 15}, "agent", "工号", True),  # the segment starts inside the window
        ({"first_s": 13}, "agent", "工号", False),
        ({"first_s": 14}, "agent", "工号", False),  # touching the edge is not overlapping
        ({"last_s": 45}, "agent", "还有其他", True),
        ({"last_s": 30}, "agent", "还有其他", False),
        ({"last_s": 30}, "customer", "还有其他", True),
        ({"last_s": 10}, "agent", "还有其他", False),  # the call ends at 90 s, agent at 50 s
        ({"last_s": 10, "of": "role"}, "agent", "还有其他", True),
        ({"from_pct": 0, "to_pct": 10}, "any", "听到", True),
        ({"from_pct": 50, "to_pct": 100}, "any", "听到", False),
        ({"from_pct": 50, "to_pct": 100}, "any", "减免", False),
        ({"from_pct": 20, "to_pct": 30}, "any", "减免", True),
    ],
)
def test_windows_keep_segments_that_overlap_them(
    window: dict[str, Any], role: str, keyword: str, expected: bool
) -> None:
    op = {"type": "keywords", "role": role, "window": window, "any": [keyword]}
    assert matches(op, GREETING) is expected


def test_an_empty_call_matches_only_none() -> None:
    empty = conversation()
    assert not matches({"type": "keywords", "any": ["退费"]}, empty)
    assert matches({"type": "keywords", "none": ["退费"]}, empty)

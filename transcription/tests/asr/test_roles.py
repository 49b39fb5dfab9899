"""Agent/customer assignment for two diarized speakers: a pure function, no models."""

from __future__ import annotations

import pytest

from transcription.asr.base import ROLE_AGENT, ROLE_CUSTOMER, ROLE_UNKNOWN
from transcription.asr.roles import agent_score, assign_roles, roles_for_turns


def test_greeting_by_the_second_speaker_makes_them_the_agent() -> None:
    turns = [
        ("A", 0, "喂"),
        ("B", 1200, "您好，很高兴为您服务，请问有什么可以帮您"),
        ("A", 5000, "我想查一下我的账单"),
        ("B", 8000, "好的，请稍等"),
    ]
    assert assign_roles(turns) == {"A": ROLE_CUSTOMER, "B": ROLE_AGENT}


def test_no_greeting_falls_back_to_the_first_speaker() -> None:
    turns = [("B", 500, "嗯嗯"), ("A", 2000, "对"), ("B", 4000, "是的")]
    assert assign_roles(turns) == {"B": ROLE_AGENT, "A": ROLE_CUSTOMER}


def test_turn_order_is_by_start_time_not_list_order() -> None:
    turns = [("A", 9000, "好的"), ("B", 100, "喂"), ("A", 3000, "嗯")]
    assert assign_roles(turns) == {"B": ROLE_AGENT, "A": ROLE_CUSTOMER}


def test_agent_mentioning_their_staff_number_wins() -> None:
    turns = [
        (0, 0, "你好"),
        (1, 900, "你好，我是 1 0 8 6 号，工号幺零八六"),
        (0, 4000, "我的卡丢了"),
    ]
    # Both greet; only speaker 1 identifies themselves.
    assert assign_roles(turns) == {0: ROLE_CUSTOMER, 1: ROLE_AGENT}


def test_customer_asking_for_the_staff_number_is_not_the_agent() -> None:
    turns = [
        ("A", 0, "嗯，请讲"),
        ("B", 2000, "你工号多少，我要投诉"),
        ("A", 6000, "好的"),
    ]
    assert assign_roles(turns) == {"A": ROLE_AGENT, "B": ROLE_CUSTOMER}
    assert agent_score(["你的工号是多少"]) < 0 < agent_score(["我的工号是一二三"])


def test_only_early_turns_count() -> None:
    late_greeting = [("B", 0, "喂"), ("A", 1000, "嗯")]
    late_greeting += [("B", 2000 + i * 1000, "对") for i in range(3)]
    late_greeting += [("A", 10_000 + i * 1000, "好") for i in range(3)]
    # A says the agent phrase only in their fourth turn: too late to count.
    late_greeting.append(("A", 20_000, "客服为您服务"))
    assert assign_roles(late_greeting)["B"] == ROLE_AGENT


@pytest.mark.parametrize(
    ("fallback", "expected"),
    [
        ("first", {"A": ROLE_AGENT, "B": ROLE_CUSTOMER}),
        ("second", {"A": ROLE_CUSTOMER, "B": ROLE_AGENT}),
        ("unknown", {"A": ROLE_UNKNOWN, "B": ROLE_UNKNOWN}),
    ],
)
def test_fallback_setting_decides_ties(fallback: str, expected: dict[str, str]) -> None:
    turns = [("A", 0, "喂，你好"), ("B", 1500, "你好")]  # both just greet: a tie
    assert assign_roles(turns, fallback) == expected


def test_fallback_does_not_override_a_clear_greeting() -> None:
    turns = [("A", 0, "喂"), ("B", 800, "您好，这里是客服中心")]
    for fallback in ("first", "second", "unknown"):
        assert assign_roles(turns, fallback)["B"] == ROLE_AGENT


def test_single_speaker_and_empty_input() -> None:
    assert assign_roles([]) == {}
    assert assign_roles([("A", 0, "嗯")]) == {"A": ROLE_AGENT}
    assert assign_roles([("A", 0, "嗯")], "second") == {"A": ROLE_AGENT}


def test_unknown_fallback_value_is_refused() -> None:
    with pytest.raises(ValueError, match="fallback"):
        assign_roles([("A", 0, "嗯")], "last")


def test_roles_for_turns_keeps_turn_order() -> None:
    turns = [("A", 4000, "好"), ("B", 0, "您好，工号三三"), ("A", 1000, "我想退款")]
    assert roles_for_turns(turns) == [ROLE_CUSTOMER, ROLE_AGENT, ROLE_CUSTOMER]

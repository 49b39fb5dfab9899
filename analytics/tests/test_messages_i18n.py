"""Rule validation messages stay the Chinese text they always were, and read in English on request.

The engine (analytics/rules) builds its messages with `qa_i18n.msg`; the rule pages show them
through `qa_platform.i18n.localized`, which matches the stored Chinese text against the active
language's templates and translates the parameters too (a rule's message wraps an operator's
message). The English comes from the compiled catalog (locale/en) holding those templates.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import regex

from analytics.rules.spec import RuleSpecError, validate_rule_set
from qa_platform.tests.languages import chinese, english

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def rule(key: str, operators: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": key, "severity": "minor", "operators": operators, **extra}


def problems(*docs: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(RuleSpecError) as raised:
        validate_rule_set(list(docs))
    return raised.value.errors


REFUND = {"type": "keywords", "any": ["refund"]}
REGEX_ERROR = ""
try:
    regex.compile("(refund")
except regex.error as exc:
    REGEX_ERROR = str(exc)

CASES = [
    pytest.param(
        [rule("bad_regex", {"1": {"type": "regex", "pattern": "(refund"}})],
        f"规则「bad_regex」：算子 1 pattern：正则表达式无效（{REGEX_ERROR}）",
        ("bad_regex", "1 pattern", REGEX_ERROR),
        id="invalid-regex",
    ),
    pytest.param(
        [rule("missing_op", {"1": REFUND}, condition="1 && 3")],
        "规则「missing_op」：条件表达式引用了不存在的算子 3（已定义：1）",
        ("missing_op", "3", "1"),
        id="condition-names-missing-operator",
    ),
    pytest.param(
        [
            rule("first", {"1": REFUND}, precondition={"rule": "second"}),
            rule("second", {"1": REFUND}, precondition={"rule": "first"}),
        ],
        "前置条件存在循环引用：first → second → first",
        ("first → second → first",),
        id="circular-precondition",
    ),
    pytest.param(
        [rule("no_words", {"1": {"type": "keywords", "any": []}})],
        "规则「no_words」：算子 1 any：关键词列表为空或不是列表",
        ("no_words", "1 any"),
        id="empty-keyword-list",
    ),
    pytest.param(
        [
            rule(
                "pre_words",
                {"1": REFUND},
                precondition={"operators": {"2": {"type": "keywords", "all": []}}},
            )
        ],
        "规则「pre_words」：前置条件 算子 2 all：关键词列表为空或不是列表",
        ("pre_words", "2 all"),
        id="empty-keyword-list-in-precondition",
    ),
    pytest.param(
        [rule("slow", {"1": {"type": "silence", "min_ms": "ten"}})],
        "规则「slow」：算子 1：参数 min_ms 必须是数字",
        ("slow", "min_ms"),
        id="metric-parameter",
    ),
]


@pytest.mark.parametrize(("docs", "message", "kept"), CASES)
def test_validation_message_is_unchanged_chinese_and_reads_in_english(
    docs: list[dict[str, Any]], message: str, kept: tuple[str, ...]
) -> None:
    assert message in problems(*docs)
    assert chinese(message) == message

    shown = english(message)
    assert shown != message
    assert not _CJK.search(shown), shown  # every part translated, the nested messages too
    for value in kept:  # the parameters (keys, operator numbers, the library's text) survive
        assert value in shown, (value, shown)


def test_text_no_template_produced_is_left_alone() -> None:
    comment = "客户说的是年费不是退费"
    assert english(comment) == comment

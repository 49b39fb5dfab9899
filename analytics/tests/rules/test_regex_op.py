from typing import Any

import pytest

from analytics.rules.engine import compile_rule_set
from analytics.rules.regex_prefilter import required_literals
from analytics.tests.rules.factories import conversation, matches, outcomes, rule, single, texts

PROMISE_CALL = conversation(
    ("customer", "这个理财保证收益吗？"),
    ("agent", "您放心，这个产品保证年化收益百分之五，稳赚不赔。"),
    ("agent", "但是我没办法保证收益，投资需谨慎。"),
)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ({"pattern": "保证.{0,4}收益"}, ["保证收益", "保证年化收益", "保证收益"]),
        ({"pattern": "保证.{0,4}收益", "role": "agent"}, ["保证年化收益", "保证收益"]),
        ({"pattern": "保证.{0,4}收益", "role": "customer"}, ["保证收益"]),
        (
            {"pattern": "保证.{0,4}收益", "role": "agent", "exclude": "没办法|不能"},
            ["保证年化收益"],
        ),
        ({"pattern": "稳赚不赔|保本"}, ["稳赚不赔"]),
        ({"pattern": r"(?i)APP"}, []),
        ({"pattern": r"\d+"}, []),
    ],
)
def test_regex_matches_with_role_and_exclude(op: dict[str, Any], expected: list[str]) -> None:
    assert texts(single({"type": "regex", **op}, PROMISE_CALL)) == expected


def test_a_match_carries_its_span_and_time() -> None:
    result = single({"type": "regex", "pattern": "稳赚不赔"}, PROMISE_CALL)
    (evidence,) = result.evidence
    text = PROMISE_CALL.segments[1].text
    assert evidence.segment_id == 2
    assert text[evidence.char_start : evidence.char_end] == "稳赚不赔"


def test_patterns_see_the_normalised_segment_text() -> None:
    call = conversation(("customer", "我的卡号是6222 0274 6507 5291"))
    assert matches({"type": "regex", "pattern": r"\d{4} \d{4} \d{4} \d{4}"}, call)


def test_a_catastrophic_regex_times_out_and_skips_only_its_own_rule() -> None:
    call = conversation(("agent", "a" * 5000 + "b"), ("customer", "我要退费"))
    rules = [
        rule("evil", op1={"type": "regex", "pattern": "(a+)+$", "timeout_s": 0.05}),
        rule("refund", op1={"type": "keywords", "any": ["退费"]}),
        rule("fine_regex", op1={"type": "regex", "pattern": "退.", "role": "customer"}),
    ]
    result = outcomes(rules, call)
    assert result["evil"].error and "超时" in result["evil"].error
    assert (result["evil"].applies, result["evil"].fired) == (False, False)
    assert result["refund"].fired and not result["refund"].error
    assert result["fine_regex"].fired and not result["fine_regex"].error


def test_a_timed_out_operator_shared_by_two_rules_runs_once() -> None:
    call = conversation(("agent", "a" * 5000 + "b"))
    evil = {"type": "regex", "pattern": "(a+)+$"}
    rule_set = compile_rule_set([rule("one", op1=evil), rule("two", op1=evil)], version="t")
    # Identical operators compile to one object, whose result (or failure) a call caches.
    one, two = (compiled.body.operators[1] for compiled in rule_set._rules)
    assert one is two
    calls = 0
    real = one.evaluate

    def counting(ctx: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(ctx)

    one.evaluate = counting  # type: ignore[method-assign]
    first, second = rule_set.evaluate(call)
    assert first.error and second.error and first.error == second.error
    assert calls == 1, "not two timeouts' worth of backtracking"


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        ("保证.{0,4}收益|稳赚不赔", ("保证", "稳赚不赔")),
        ("(?:肯定|一定)能给您(?:退|免)", ("能给您",)),
        ("x?退费", ("退费",)),
        ("(退费)*好", ("好",)),
        ("(a+)+$", ("a",)),
        ("(退费)?", None),  # nothing is required
        ("退费|.", None),  # one branch requires nothing
        ("(?i)abc", None),  # case-insensitive
        ("a(?i:bc)", ("a",)),
        (r"\d{16,19}", None),
        (r"\p{Han}+退", None),  # syntax only the regex package knows
        ("(?:退费){e<=1}", None),  # fuzzy matching
        ("[[:alpha:]]+abc", None),
        ("百分之百|100%", None),  # "%" is not a plain literal
    ],
)
def test_required_literals_are_only_claimed_when_certain(
    pattern: str, literals: tuple[str, ...] | None
) -> None:
    assert required_literals(pattern) == literals


PATTERNS = [
    "保证.{0,4}收益|稳赚不赔",
    "(?:肯定|一定)能给您(?:退|免)",
    "退(?:费|款)",
    "(?i)app",
    r"\d{4}",
    "(?:退费){e<=1}",
    "不.{0,2}退费",
]
TEXTS = [
    "这个理财保证收益，稳赚不赔",
    "我肯定能给您退回来",
    "您可以在APP上申请退款",
    "卡号6222结尾",
    "我要推费",
    "我不是要退费",
    "没什么事",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_prefilter_never_changes_what_a_regex_finds(pattern: str) -> None:
    import regex

    expected = [m.group() for t in TEXTS for m in regex.finditer(pattern, t)]
    call = conversation(*[("agent", t) for t in TEXTS])
    assert texts(single({"type": "regex", "pattern": pattern}, call)) == expected

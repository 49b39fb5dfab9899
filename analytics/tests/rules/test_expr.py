import pytest

from analytics.rules.expr import (
    And,
    ConditionError,
    Not,
    Or,
    Ref,
    evaluate,
    parse_condition,
    references,
)
from analytics.rules.types import Evidence, OperatorResult

ALL = range(1, 20)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("1", Ref(1)),
        (" 12 ", Ref(12)),
        ("!1", Not(Ref(1))),
        ("!!1", Not(Not(Ref(1)))),
        ("1 && 2", And(Ref(1), Ref(2))),
        ("1||2", Or(Ref(1), Ref(2))),
        ("1 || 2 && 3", Or(Ref(1), And(Ref(2), Ref(3)))),
        ("1 && 2 || 3", Or(And(Ref(1), Ref(2)), Ref(3))),
        ("!1 && 2", And(Not(Ref(1)), Ref(2))),
        ("!(1 && 2)", Not(And(Ref(1), Ref(2)))),
        ("(1 || 2) && 3", And(Or(Ref(1), Ref(2)), Ref(3))),
        ("1 && 2 && 3", And(And(Ref(1), Ref(2)), Ref(3))),
        ("((((1))))", Ref(1)),
        ("1\n&&\t2", And(Ref(1), Ref(2))),
    ],
)
def test_it_parses_with_not_before_and_before_or(text: str, tree: object) -> None:
    assert parse_condition(text, ALL) == tree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "条件表达式为空"),
        ("   ", "条件表达式为空"),
        ("1 & 2", "第 3 个字符处有无法识别的符号「&」（与、或请写成 && 和 ||）"),
        ("1 and 2", "无法识别的符号「a」"),
        ("1 && ", "末尾应为算子编号"),
        ("&& 1", "第 1 个字符处应为算子编号"),
        ("(1 && 2", "缺少右括号"),
        ("1 && 2)", "多出了「)」"),
        ("1 2", "多出了「数字」"),
        ("()", "应为算子编号"),
        ("1 || 7", "条件表达式引用了不存在的算子 7（已定义：1、2、3）"),
        ("__import__('os')", "无法识别的符号「_」"),
        ("(" * 200 + "1" + ")" * 200, "嵌套过深"),
    ],
)
def test_it_rejects_bad_conditions_in_chinese(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse_condition(text, {1, 2, 3})
    assert message in str(raised.value)


def test_references_lists_every_operator_number() -> None:
    assert references(parse_condition("!(1 && 2) || 3 && 1", ALL)) == {1, 2, 3}


def results(**values: bool) -> dict[int, OperatorResult]:
    return {
        int(name[1:]): OperatorResult(matched=v, evidence=(Evidence(int(name[1:]), note=name),))
        for name, v in values.items()
    }


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("!(1 && 2)", {"o1": True, "o2": False}, True),
        ("!(1 && 2)", {"o1": True, "o2": True}, False),
        ("1 || 2 && 3", {"o1": True, "o2": False, "o3": False}, True),
        ("(1 || 2) && 3", {"o1": True, "o2": False, "o3": False}, False),
        ("!1 || !2", {"o1": True, "o2": True}, False),
    ],
)
def test_it_evaluates_to_the_boolean_value(
    text: str, values: dict[str, bool], expected: bool
) -> None:
    table = results(**values)
    assert evaluate(parse_condition(text, ALL), table.__getitem__)[0] is expected


def test_operators_are_evaluated_only_when_needed() -> None:
    asked: list[int] = []
    table = results(o1=False, o2=True, o3=True)

    def result_of(number: int) -> OperatorResult:
        asked.append(number)
        return table[number]

    evaluate(parse_condition("1 && 2 || 3", ALL), result_of)
    assert asked == [1, 3]


@pytest.mark.parametrize(
    ("text", "values", "justified_by"),
    [
        ("1 && 2", {"o1": True, "o2": True}, ["o1", "o2"]),
        ("!(1 && 2)", {"o1": True, "o2": False}, ["o2"]),
        ("1 || 2", {"o1": False, "o2": True}, ["o2"]),
        ("1 || 2", {"o1": True, "o2": True}, ["o1"]),
        ("!(1 || 2)", {"o1": False, "o2": False}, ["o1", "o2"]),
        ("!1", {"o1": False}, ["o1"]),
    ],
)
def test_evidence_comes_from_the_operators_that_decided_the_value(
    text: str, values: dict[str, bool], justified_by: list[str]
) -> None:
    table = results(**values)
    _, evidence = evaluate(parse_condition(text, ALL), table.__getitem__)
    assert [e.note for e in evidence] == justified_by

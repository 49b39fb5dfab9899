"""Boolean conditions over operator numbers: "!(1 && 2) || 3".

Grammar (precedence ! > && > ||, both binary operators left-associative):

    or    := and ("||" and)*
    and   := unary ("&&" unary)*
    unary := "!" unary | atom
    atom  := NUMBER | "(" or ")"

Parsed once into a small AST, never eval'd. Evaluation is lazy: an operator is computed only
when the expression needs its value, so `1 && 2` never runs operator 2 when 1 is false.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from analytics.rules.types import Evidence, OperatorResult
from qa_i18n import msg

_MAX_DEPTH = 100


class ConditionError(ValueError):
    """The condition text is not a valid expression; the message is Chinese."""


@dataclass(frozen=True)
class Ref:
    number: int


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


Expr = Ref | Not | And | Or


def parse_condition(text: str, available: Collection[int]) -> Expr:
    """Parse `text`; every number must be one of `available`. Raises ConditionError."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(msg("条件表达式为空"))
    parser = _Parser(text, _tokenize(text))
    expr = parser.parse()
    missing = sorted(references(expr) - set(available))
    if missing:
        names = "、".join(str(n) for n in missing)
        defined = "、".join(str(n) for n in sorted(available)) or msg("无")
        raise ConditionError(
            msg(
                "条件表达式引用了不存在的算子 {numbers}（已定义：{defined}）",
                numbers=names,
                defined=defined,
            )
        )
    return expr


def references(expr: Expr) -> frozenset[int]:
    if isinstance(expr, Ref):
        return frozenset({expr.number})
    if isinstance(expr, Not):
        return references(expr.operand)
    return references(expr.left) | references(expr.right)


def evaluate(
    expr: Expr, result_of: Callable[[int], OperatorResult]
) -> tuple[bool, tuple[Evidence, ...]]:
    """The expression's value and the evidence that justifies it.

    A true `a && b` is justified by both sides, a false one by the side that was false; a true
    `a || b` by the first true side; `!a` by whatever justified `a`. So "!(1 && 2)" that fires
    because operator 2 found nothing carries operator 2's (empty) evidence, not operator 1's.
    """
    if isinstance(expr, Ref):
        result = result_of(expr.number)
        return result.matched, result.evidence
    if isinstance(expr, Not):
        value, evidence = evaluate(expr.operand, result_of)
        return not value, evidence
    left, left_evidence = evaluate(expr.left, result_of)
    if isinstance(expr, And) and not left:
        return False, left_evidence
    if isinstance(expr, Or) and left:
        return True, left_evidence
    right, right_evidence = evaluate(expr.right, result_of)
    if isinstance(expr, And):
        return right, (left_evidence + right_evidence) if right else right_evidence
    return right, right_evidence if right else left_evidence + right_evidence


def value(expr: Expr, matched: Callable[[int], bool]) -> bool:
    """The expression's value alone; operators are asked in the same order as by `evaluate`."""
    if isinstance(expr, Ref):
        return matched(expr.number)
    if isinstance(expr, Not):
        return not value(expr.operand, matched)
    if isinstance(expr, And):
        return value(expr.left, matched) and value(expr.right, matched)
    return value(expr.left, matched) or value(expr.right, matched)


def justify(expr: Expr, matched: Callable[[int], bool]) -> tuple[bool, tuple[int, ...]]:
    """`evaluate` with operator numbers instead of evidence: the value, and the operators whose
    evidence, concatenated in this order, is what `evaluate` returns. Lets a caller gather the
    evidence only when it needs it."""
    if isinstance(expr, Ref):
        return matched(expr.number), (expr.number,)
    if isinstance(expr, Not):
        result, refs = justify(expr.operand, matched)
        return not result, refs
    left, left_refs = justify(expr.left, matched)
    if isinstance(expr, And) and not left:
        return False, left_refs
    if isinstance(expr, Or) and left:
        return True, left_refs
    right, right_refs = justify(expr.right, matched)
    if isinstance(expr, And):
        return right, (left_refs + right_refs) if right else right_refs
    return right, right_refs if right else left_refs + right_refs


_Token = tuple[str, int, int]  # (kind, value, position); kind: num ! && || ( ) end


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "0123456789":
            j = i
            while j < len(text) and text[j] in "0123456789":
                j += 1
            tokens.append(("num", int(text[i:j]), i))
            i = j
        elif text.startswith(("&&", "||"), i):
            tokens.append((text[i : i + 2], 0, i))
            i += 2
        elif ch in "!()":
            tokens.append((ch, 0, i))
            i += 1
        else:
            if ch in "&|":
                raise ConditionError(
                    msg(
                        "条件表达式第 {position} 个字符处有无法识别的符号「{symbol}」"
                        "（与、或请写成 && 和 ||）",
                        position=i + 1,
                        symbol=ch,
                    )
                )
            raise ConditionError(
                msg(
                    "条件表达式第 {position} 个字符处有无法识别的符号「{symbol}」",
                    position=i + 1,
                    symbol=ch,
                )
            )
    tokens.append(("end", 0, len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> Expr:
        expr = self._or(0)
        kind, _, at = self.tokens[self.pos]
        if kind != "end":
            token = msg("数字") if kind == "num" else kind
            raise ConditionError(
                msg(
                    "条件表达式第 {position} 个字符处多出了「{token}」",
                    position=at + 1,
                    token=token,
                )
            )
        return expr

    def _or(self, depth: int) -> Expr:
        expr = self._and(depth)
        while self._take("||"):
            expr = Or(expr, self._and(depth))
        return expr

    def _and(self, depth: int) -> Expr:
        expr = self._unary(depth)
        while self._take("&&"):
            expr = And(expr, self._unary(depth))
        return expr

    def _unary(self, depth: int) -> Expr:
        if depth > _MAX_DEPTH:
            raise ConditionError(msg("条件表达式嵌套过深"))
        if self._take("!"):
            return Not(self._unary(depth + 1))
        kind, value, at = self.tokens[self.pos]
        if kind == "num":
            self.pos += 1
            return Ref(value)
        if kind == "(":
            self.pos += 1
            expr = self._or(depth + 1)
            if not self._take(")"):
                _, _, close_at = self.tokens[self.pos]
                raise ConditionError(
                    msg("条件表达式第 {position} 个字符处缺少右括号「)」", position=close_at + 1)
                )
            return expr
        if kind == "end":
            raise ConditionError(msg("条件表达式末尾应为算子编号、「!」或「(」，却是「结尾」"))
        # Here `kind` is ")", "&&" or "||": numbers, "!" and "(" were taken above.
        raise ConditionError(
            msg(
                "条件表达式第 {position} 个字符处应为算子编号、「!」或「(」，却是「{token}」",
                position=at + 1,
                token=kind,
            )
        )

    def _take(self, kind: str) -> bool:
        if self.tokens[self.pos][0] == kind:
            self.pos += 1
            return True
        return False

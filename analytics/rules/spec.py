"""Rule documents (JSON, stored by the Django side) parsed and validated into frozen dataclasses.

`parse_rule` checks one document; `validate_rule_set` checks a whole set, including what only
the set can tell: duplicate ids and keys, preconditions naming missing rules, and cycles.
Every problem is reported in Chinese, prefixed with the rule it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analytics.rules.expr import ConditionError, Expr, parse_condition
from analytics.rules.operator_spec import OperatorSpec, parse_operator
from qa_i18n import msg

SEVERITIES = ("info", "minor", "major", "critical")
_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_RULE_FIELDS = {
    "id", "key", "name", "severity", "explanation", "operators", "condition", "precondition",
    "note", "enabled",
}


class ProblemsError(ValueError):
    """Invalid input, told as one message per problem (`errors`, Chinese `msg` texts)."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("；".join(self.errors))


class RuleSpecError(ProblemsError):
    """A rule document or rule set is invalid."""


@dataclass(frozen=True)
class ConditionBlock:
    """Numbered operators and the condition over them (a rule's body, or an inline precondition)."""

    operators: Mapping[int, OperatorSpec]
    condition: Expr
    condition_text: str


@dataclass(frozen=True)
class RuleRef:
    """Precondition: the rule with this key applies and fired on the call."""

    key: str


@dataclass(frozen=True)
class RuleSpec:
    id: int
    key: str
    name: str
    severity: str
    explanation: str
    body: ConditionBlock
    precondition: RuleRef | ConditionBlock | None = None


def parse_rule(doc: object, *, index: int = 0) -> RuleSpec:
    """One rule document; `index` is its id when the document has none. Raises RuleSpecError."""
    errors: list[str] = []
    spec = _parse_rule(doc, index, errors)
    if errors or spec is None:
        if isinstance(doc, dict) and isinstance(doc.get("key"), str):
            key = doc["key"]
            raise RuleSpecError(
                [msg("规则「{key}」：{problem}", key=key, problem=e) for e in errors]
            )
        number = index + 1
        raise RuleSpecError(
            [msg("第 {number} 条规则：{problem}", number=number, problem=e) for e in errors]
        )
    return spec


def validate_rule_set(docs: Sequence[object]) -> list[RuleSpec]:
    """Parse every document and check the set as a whole. Raises RuleSpecError with all problems."""
    errors: list[str] = []
    specs: list[RuleSpec] = []
    for index, doc in enumerate(docs):
        try:
            specs.append(parse_rule(doc, index=index))
        except RuleSpecError as exc:
            errors.extend(exc.errors)
    errors.extend(_duplicates(specs))
    by_key = {spec.key: spec for spec in specs}
    for spec in specs:
        if isinstance(spec.precondition, RuleRef) and spec.precondition.key not in by_key:
            errors.append(
                msg(
                    "规则「{key}」：前置条件引用了不存在的规则「{missing}」",
                    key=spec.key,
                    missing=spec.precondition.key,
                )
            )
    errors.extend(_cycles(specs, by_key))
    if errors:
        raise RuleSpecError(errors)
    return specs


def _parse_rule(doc: object, index: int, errors: list[str]) -> RuleSpec | None:
    if not isinstance(doc, dict):
        errors.append(msg("规则必须是 JSON 对象"))
        return None
    for name in sorted(set(doc) - _RULE_FIELDS):
        errors.append(msg("不认识的字段「{field}」", field=name))
    rule_id = doc.get("id", index)
    if not isinstance(rule_id, int) or isinstance(rule_id, bool) or rule_id < 0:
        errors.append(msg("id 必须是非负整数，收到 {value}", value=repr(rule_id)))
    key = doc.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        errors.append(msg("key 必须是 1–100 个字母、数字、下划线、点或连字符"))
    name = doc.get("name", key)
    if not isinstance(name, str) or not name.strip():
        errors.append(msg("name 必须是非空字符串"))
    severity = doc.get("severity")
    if severity not in SEVERITIES:
        errors.append(
            msg(
                "严重级别 severity「{severity}」无效，应为 {options} 之一",
                severity=severity,
                options="、".join(SEVERITIES),
            )
        )
    explanation = doc.get("explanation", "")
    if not isinstance(explanation, str):
        errors.append(msg("explanation 必须是字符串"))
    body = parse_block(doc.get("operators"), doc.get("condition"), errors)
    precondition = _parse_precondition(doc.get("precondition"), errors)
    if errors or body is None:
        return None
    assert isinstance(key, str) and isinstance(name, str) and isinstance(explanation, str)
    return RuleSpec(
        int(rule_id), key, name.strip(), str(severity), explanation, body, precondition
    )


def parse_block(
    operators: object, condition: object, errors: list[str], *, precondition: bool = False
) -> ConditionBlock | None:
    """Operators plus condition. A missing condition means all operators must match (1 && 2 …).

    `precondition`: the block is a rule's inline precondition; its messages say so.
    """

    def problem(text: str) -> str:
        return msg("前置条件 {problem}", problem=text) if precondition else text

    if not isinstance(operators, dict) or not operators:
        errors.append(problem(msg("operators 必须是非空对象，键为算子编号")))
        return None
    parsed: dict[int, OperatorSpec] = {}
    ok = True
    for raw_number, raw_op in operators.items():
        number = _operator_number(raw_number)
        if number is None:
            errors.append(problem(msg("算子编号「{number}」必须是正整数", number=raw_number)))
            ok = False
            continue
        op = parse_operator(raw_op, errors, number, precondition=precondition)
        if op is None:
            ok = False
        else:
            parsed[number] = op
    if condition is None:
        condition = " && ".join(str(n) for n in sorted(parsed))
    if not isinstance(condition, str):
        errors.append(problem(msg("condition 必须是字符串")))
        return None
    numbers = {_operator_number(n) for n in operators}
    try:
        expr = parse_condition(condition, {n for n in numbers if n is not None})
    except ConditionError as exc:
        errors.append(problem(str(exc)))
        return None
    return ConditionBlock(parsed, expr, condition) if ok and parsed else None


def _parse_precondition(raw: object, errors: list[str]) -> RuleRef | ConditionBlock | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and set(raw) == {"rule"}:
        if not isinstance(raw["rule"], str) or not _KEY.fullmatch(raw["rule"]):
            errors.append(msg("前置条件 precondition.rule 必须是规则的 key"))
            return None
        return RuleRef(raw["rule"])
    if isinstance(raw, dict) and "operators" in raw and set(raw) <= {"operators", "condition"}:
        return parse_block(raw["operators"], raw.get("condition"), errors, precondition=True)
    # No parameters, so the braces are literal text (msg formats only when given parameters).
    errors.append(
        msg(
            '前置条件 precondition 只能是 null、{"rule": "规则key"} '
            '或 {"operators": {...}, "condition": "..."}'
        )
    )
    return None


def _operator_number(raw: Any) -> int | None:
    text = str(raw)
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    return None


def _duplicates(specs: list[RuleSpec]) -> list[str]:
    errors: list[str] = []
    seen_ids: dict[int, str] = {}
    seen_keys: set[str] = set()
    for spec in specs:
        if spec.id in seen_ids:
            errors.append(
                msg(
                    "规则「{key}」：id {id} 与规则「{other}」重复",
                    key=spec.key,
                    id=spec.id,
                    other=seen_ids[spec.id],
                )
            )
        seen_ids.setdefault(spec.id, spec.key)
        if spec.key in seen_keys:
            errors.append(msg("规则 key「{key}」重复", key=spec.key))
        seen_keys.add(spec.key)
    return errors


def _cycles(specs: list[RuleSpec], by_key: Mapping[str, RuleSpec]) -> list[str]:
    errors: list[str] = []
    reported: set[frozenset[str]] = set()
    for spec in specs:
        path = [spec.key]
        current: RuleSpec | None = spec
        while current is not None and isinstance(current.precondition, RuleRef):
            nxt = current.precondition.key
            if nxt in path:
                loop = [*path[path.index(nxt) :], nxt]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    errors.append(msg("前置条件存在循环引用：{cycle}", cycle=" → ".join(loop)))
                break
            path.append(nxt)
            current = by_key.get(nxt)
    return errors

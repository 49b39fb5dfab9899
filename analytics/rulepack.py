"""Rule packs: a QA standard as one JSON document — detectors, how labels are read, how calls
are scored. Pure Python: no ORM, no Django settings.

A pack (see fixtures/rulepacks/README.md) is
``{"name", "title", "version", "rules": [...], "labels": {...}, "scorecard": {...}}``:

* ``rules`` — rule documents in the engine's schema (analytics/rules/spec.py), compiled once;
* ``labels`` — per QA item, either ``{"rule": key, "true_when": "fired"|"not_fired",
  "null_when": "not_applies"|"mono"}`` (``not_applies``: the rule's precondition did not hold;
  ``mono``: the call is mono) or ``{"sentiment": "customer"|"agent", "scope": "end"|...}``;
* ``scorecard`` — ``base`` points; ``points`` lost when an item is false (an item that does not
  apply keeps its points); ``deductions`` when an item is true, per occurrence or once;
  ``critical`` conditions that make the score 0; ``flag`` — below this score, or any of these
  conditions, the call is flagged for review; ``sections`` group items for display;
  ``manual`` items are filled in by a reviewer (``pass``/``fail``/``na``; a failed one loses its
  points, a failed critical one scores the call 0; an unfilled one keeps its points and is
  reported as pending).

An occurrence is one segment in a rule's evidence (two forbidden phrases in one sentence are one
occurrence); evidence that is a stretch of time (a silence) counts one each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics.rules.engine import CompiledRuleSet, compile_rule_set
from analytics.rules.sentiment import CallSentiment, call_sentiment
from analytics.rules.spec import ProblemsError, RuleSpecError
from analytics.rules.types import Call, Hit, RuleOutcome, Seg
from qa_i18n import msg
from transcription.asr.itn import normalize

PACK_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "rulepacks"
TRUE_WHEN = ("fired", "not_fired")
NULL_WHEN = ("not_applies", "mono")
SENTIMENT_ROLES = ("customer", "agent")
SENTIMENT_SCOPES = ("start", "end", "overall")
ROLES = ("agent", "customer", "unknown")
_PACK_FIELDS = {"name", "title", "version", "description", "rules", "labels", "scorecard"}
_LABEL_FIELDS = {"title", "rule", "true_when", "null_when", "sentiment", "scope", "note"}
_SCORECARD_FIELDS = {
    "base", "points", "deductions", "critical", "flag", "note", "sections", "manual",
}
_MANUAL_FIELDS = {"title", "points", "critical", "note"}
MANUAL_VALUES = ("pass", "fail", "na")
UNSECTIONED = msg("其他")  # the section of items no section lists; views show it translated

Prediction = bool | str | None


class RulePackError(ProblemsError):
    """A pack (or a call document) is invalid."""


@dataclass(frozen=True)
class LabelSpec:
    key: str
    title: str
    rule: str | None = None
    true_when: str = "fired"
    null_when: str | None = None
    sentiment: str | None = None  # role whose sentiment is the label
    scope: str = "end"


@dataclass(frozen=True)
class Deduction:
    points: int
    per_occurrence: bool = False


@dataclass(frozen=True)
class LabelCondition:
    label: str
    value: bool | str

    def holds(self, labels: Mapping[str, Prediction]) -> bool:
        actual = labels.get(self.label)
        return type(actual) is type(self.value) and actual == self.value


@dataclass(frozen=True)
class ManualItem:
    key: str
    title: str
    points: int
    critical: bool = False


@dataclass(frozen=True)
class Section:
    title: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class ItemResult:
    """One scorecard line as a reviewer reads it."""

    key: str
    title: str
    section: str
    kind: str  # "points" (lost when false) | "deduction" | "info" | "manual"
    value: Prediction  # label value; for a manual item "pass"/"fail"/"na" or None (pending)
    max_points: int
    lost: int
    critical: bool  # this item's critical condition held
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "section": self.section, "kind": self.kind,
                "value": self.value, "max_points": self.max_points, "lost": self.lost,
                "critical": self.critical, "rule": self.rule}  # fmt: skip


@dataclass(frozen=True)
class OutcomeState:
    """What a label needs of a rule's outcome; stored with a call score so it can be re-read."""

    applies: bool
    fired: bool
    error: str = ""
    occurrences: int = 0

    @classmethod
    def of(cls, outcome: RuleOutcome) -> OutcomeState:
        return cls(outcome.applies, outcome.fired, outcome.error, occurrence_count(outcome))


@dataclass(frozen=True)
class ScoreResult:
    score: int
    flagged: bool
    reasons: tuple[str, ...]  # Chinese, why the call is flagged (empty when it is not)
    critical: tuple[str, ...]  # labels (and manual items) whose critical condition held
    lost: dict[str, int] = field(default_factory=dict)  # label → points lost
    items: tuple[ItemResult, ...] = ()
    pending: tuple[str, ...] = ()  # manual items not filled in yet


@dataclass(frozen=True)
class Scorecard:
    base: int
    points: Mapping[str, int]
    deductions: Mapping[str, Deduction]
    critical: tuple[LabelCondition, ...]
    flag_below: float
    flag_when: tuple[LabelCondition, ...]
    titles: Mapping[str, str]
    manual: Mapping[str, ManualItem] = field(default_factory=dict)
    sections: tuple[Section, ...] = ()
    rules: Mapping[str, str] = field(default_factory=dict)  # label → rule key

    def score(
        self,
        labels: Mapping[str, Prediction],
        occurrences: Mapping[str, int] | None = None,
        manual: Mapping[str, str] | None = None,
    ) -> ScoreResult:
        """Score and flag from label values (predicted or gold); a missing count is 1.

        `manual` holds the reviewer's answers ("pass"/"fail"/"na") by manual item key.
        """
        counts = occurrences or {}
        answers = manual or {}
        lost: dict[str, int] = {}
        for key, points in self.points.items():
            if labels.get(key) is False:  # None (does not apply) keeps its points
                lost[key] = points
        for key, rule in self.deductions.items():
            if labels.get(key) is True:
                times = max(counts.get(key, 1), 1) if rule.per_occurrence else 1
                lost[key] = rule.points * times
        for key, item in self.manual.items():
            if answers.get(key) == "fail":
                lost[key] = item.points
        critical = tuple(c.label for c in self.critical if c.holds(labels))
        critical += tuple(k for k, item in self.manual.items()
                          if item.critical and answers.get(k) == "fail")  # fmt: skip
        score = 0 if critical else max(0, self.base - sum(lost.values()))
        reasons = [self._critical_reason(c) for c in self.critical if c.label in critical]
        reasons += [msg("严重项：{item}不合格（记 0 分）", item=item.title)
                    for k, item in self.manual.items() if k in critical]  # fmt: skip
        if score < self.flag_below and not critical:  # a critical failure says it already
            below = f"{self.flag_below:g}"
            reasons.append(msg("得分 {score} 低于 {threshold} 分", score=score, threshold=below))
        reasons += [self._reason(c) for c in self.flag_when if c.holds(labels)]
        pending = tuple(k for k in self.manual if answers.get(k) not in MANUAL_VALUES)
        items = self._items(labels, answers, lost, set(critical))
        return ScoreResult(score, bool(reasons), tuple(reasons), critical, lost, items, pending)

    def _items(
        self, labels: Mapping[str, Prediction], answers: Mapping[str, str],
        lost: Mapping[str, int], critical: set[str],
    ) -> tuple[ItemResult, ...]:  # fmt: skip
        section_of = {key: s.title for s in self.sections for key in s.items}
        ordered = [key for s in self.sections for key in s.items]
        ordered += [k for k in (*self.titles, *self.manual) if k not in section_of]
        out: list[ItemResult] = []
        for key in dict.fromkeys(ordered):
            section = section_of.get(key, UNSECTIONED)
            if key in self.manual:
                item = self.manual[key]
                value: Prediction = answers.get(key) if answers.get(key) in MANUAL_VALUES else None
                out.append(ItemResult(key, item.title, section, "manual", value, item.points,
                                      lost.get(key, 0), key in critical))  # fmt: skip
                continue
            if key in self.points:
                kind, max_points = "points", self.points[key]
            elif key in self.deductions:
                kind, max_points = "deduction", self.deductions[key].points
            else:
                kind, max_points = "info", 0
            out.append(ItemResult(key, self._title(key), section, kind, labels.get(key),
                                  max_points, lost.get(key, 0), key in critical,
                                  self.rules.get(key)))  # fmt: skip
        return tuple(out)

    def _title(self, label: str) -> str:
        return self.titles.get(label, label)

    def _critical_reason(self, condition: LabelCondition) -> str:
        title = self._title(condition.label)
        if condition.value is True:
            return msg("严重项：{item}出现（记 0 分）", item=title)
        return msg("严重项：{item}不合格（记 0 分）", item=title)

    def _reason(self, condition: LabelCondition) -> str:
        title = self._title(condition.label)
        if condition.value == "negative":
            return msg("{item}为负面", item=title)
        if condition.value == "neutral":
            return msg("{item}为中性", item=title)
        if condition.value == "positive":
            return msg("{item}为正面", item=title)
        if isinstance(condition.value, str):
            # Not reached: a condition holds only for a label's value, and a sentiment label is
            # one of the three above. No template: "{item}为{value}" would match any text with 为.
            return f"{title}为{condition.value}"
        return title if condition.value else msg("{item}不合格", item=title)


@dataclass(frozen=True)
class PackResult:
    predictions: dict[str, Prediction]
    outcomes: tuple[RuleOutcome, ...]
    occurrences: dict[str, int]  # label → occurrences of its rule's evidence (0 when not fired)
    score: int
    flagged: bool
    flag_reasons: tuple[str, ...]

    @property
    def hits(self) -> tuple[Hit, ...]:
        return tuple(o.hit for o in self.outcomes if o.hit is not None)

    @property
    def errors(self) -> dict[str, str]:
        return {o.rule_key: o.error for o in self.outcomes if o.error}


class RulePack:
    """A validated pack with its rules compiled once; `evaluate` every call with it."""

    def __init__(
        self, *, name: str, title: str, version: int, rule_set: CompiledRuleSet,
        labels: Mapping[str, LabelSpec], scorecard: Scorecard,
    ) -> None:  # fmt: skip
        self.name, self.title, self.version = name, title, version
        self.rule_set = rule_set
        self.labels = dict(labels)
        self.scorecard = scorecard

    @classmethod
    def load(cls, path: str | Path) -> RulePack:
        """Read and validate a pack file. Raises RulePackError (Chinese messages)."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RulePackError(
                [msg("无法读取规则包 {path}：{error}", path=path, error=exc.strerror or exc)]
            ) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RulePackError(
                [msg("规则包 {path} 不是有效的 UTF-8 JSON：{error}", path=path, error=exc)]
            ) from None
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: object) -> RulePack:
        if not isinstance(document, dict):
            raise RulePackError([msg("规则包的顶层必须是 JSON 对象")])
        errors = [
            msg("规则包不认识的字段「{field}」", field=k)
            for k in sorted(set(document) - _PACK_FIELDS)
        ]
        name, title, version = document.get("name"), document.get("title"), document.get("version")
        if not isinstance(name, str) or not name.strip():
            errors.append(msg("name 必须是非空字符串"))
        if not isinstance(title, str) or not title.strip():
            errors.append(msg("title 必须是非空字符串"))
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            errors.append(msg("version 必须是正整数"))
        rules = document.get("rules")
        rule_set: CompiledRuleSet | None = None
        if not isinstance(rules, list) or not rules:
            errors.append(msg("rules 必须是非空的规则列表"))
        else:
            try:
                rule_set = compile_rule_set(rules, version=f"{name}@{version}")
            except RuleSpecError as exc:
                errors.extend(exc.errors)
        preconditions = (
            {r.key: r.precondition is not None for r in rule_set.rules} if rule_set else {}
        )
        labels = _parse_labels(document.get("labels"), preconditions, rule_set is None, errors)
        scorecard = _parse_scorecard(document.get("scorecard"), labels, errors)
        if errors or rule_set is None or scorecard is None:
            raise RulePackError(errors)
        assert isinstance(name, str) and isinstance(title, str) and isinstance(version, int)
        return cls(name=name, title=title, version=version, rule_set=rule_set, labels=labels,
                   scorecard=scorecard)  # fmt: skip

    def evaluate(self, call: Call) -> PackResult:
        outcomes = tuple(self.rule_set.evaluate(call))
        states = {o.rule_key: OutcomeState.of(o) for o in outcomes}
        sentiment = call_sentiment(call) if self.uses_sentiment else None
        predictions, occurrences = self.read_labels(
            states, mono=call.channel_layout == "mono",
            sentiment=sentiment_labels(sentiment) if sentiment else {},
        )  # fmt: skip
        scored = self.scorecard.score(predictions, occurrences)
        return PackResult(predictions, outcomes, occurrences, scored.score, scored.flagged,
                          scored.reasons)  # fmt: skip

    @property
    def uses_sentiment(self) -> bool:
        return any(spec.sentiment is not None for spec in self.labels.values())

    def read_labels(
        self,
        states: Mapping[str, OutcomeState],
        *,
        mono: bool,
        sentiment: Mapping[str, Mapping[str, str]],
        dismissed: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Prediction], dict[str, int]]:
        """Label values and occurrence counts from rule outcomes.

        `sentiment` is role → scope → label; `dismissed` names rules whose hit a reviewer
        dismissed: they read as not fired. A rule missing from `states` reads as unknown (None).
        """
        predictions: dict[str, Prediction] = {}
        occurrences: dict[str, int] = {}
        for key, spec in self.labels.items():
            if spec.sentiment is not None:
                predictions[key] = sentiment.get(spec.sentiment, {}).get(spec.scope)
                continue
            assert spec.rule is not None
            state = states.get(spec.rule)
            if state is not None and spec.rule in dismissed and state.fired:
                state = OutcomeState(state.applies, False, state.error, 0)
            occurrences[key] = state.occurrences if state is not None else 0
            predictions[key] = _read(spec, state, mono)
        return predictions, occurrences


def sentiment_labels(sentiment: CallSentiment) -> dict[str, dict[str, str]]:
    """role → {"start", "end", "overall"} → label."""
    return {role: {"start": r.start, "end": r.end, "overall": r.overall}
            for role, r in sentiment.by_role.items()}  # fmt: skip


def _read(spec: LabelSpec, state: OutcomeState | None, mono: bool) -> Prediction:
    if state is None or state.error:
        return None  # the rule could not run on this call: unknown, not a verdict
    if spec.null_when == "mono" and mono:
        return None
    if spec.null_when == "not_applies" and not state.applies:
        return None
    return state.fired if spec.true_when == "fired" else not state.fired


def occurrence_count(outcome: RuleOutcome) -> int:
    """Distinct segments in the evidence, plus each piece of evidence that is only a time span."""
    if outcome.hit is None:
        return 0
    segments = {e.segment_id for e in outcome.hit.evidence if e.segment_id is not None}
    spans = sum(1 for e in outcome.hit.evidence if e.segment_id is None)
    return max(len(segments) + spans, 1)


def _parse_labels(
    raw: object, preconditions: Mapping[str, bool], rules_failed: bool, errors: list[str]
) -> dict[str, LabelSpec]:
    if not isinstance(raw, dict) or not raw:
        errors.append(msg("labels 必须是非空对象：质检项 → 读取方式"))
        return {}
    labels: dict[str, LabelSpec] = {}
    for key, item in raw.items():
        if not isinstance(item, dict):
            errors.append(msg("质检项「{key}」：必须是 JSON 对象", key=key))
            continue
        errors.extend(msg("质检项「{key}」：不认识的字段「{field}」", key=key, field=k)
                      for k in sorted(set(item) - _LABEL_FIELDS))  # fmt: skip
        title = item.get("title", key)
        if not isinstance(title, str) or not title.strip():
            errors.append(msg("质检项「{key}」：title 必须是非空字符串", key=key))
            continue
        if ("rule" in item) == ("sentiment" in item):
            errors.append(msg("质检项「{key}」：rule 与 sentiment 必须恰好设置一个", key=key))
            continue
        if "sentiment" in item:
            role, scope = item["sentiment"], item.get("scope", "end")
            if role not in SENTIMENT_ROLES or scope not in SENTIMENT_SCOPES:
                scopes = "、".join(SENTIMENT_SCOPES)
                errors.append(msg("质检项「{key}」：sentiment 只能是 customer/agent，"
                                  "scope 只能是 {scopes}", key=key, scopes=scopes))  # fmt: skip
                continue
            labels[key] = LabelSpec(key, title, sentiment=role, scope=scope)
            continue
        rule, true_when, null_when = item["rule"], item.get("true_when"), item.get("null_when")
        if not isinstance(rule, str) or (not rules_failed and rule not in preconditions):
            errors.append(msg("质检项「{key}」：引用了不存在的规则「{rule}」", key=key, rule=rule))
            continue
        if true_when not in TRUE_WHEN:
            errors.append(msg("质检项「{key}」：true_when 只能是 fired 或 not_fired", key=key))
            continue
        if null_when is not None and null_when not in NULL_WHEN:
            errors.append(msg("质检项「{key}」：null_when 只能是 not_applies 或 mono", key=key))
            continue
        if null_when == "not_applies" and not preconditions.get(rule, True):
            errors.append(msg("质检项「{key}」：规则「{rule}」没有前置条件，"
                              "not_applies 永远不会成立", key=key, rule=rule))  # fmt: skip
            continue
        labels[key] = LabelSpec(key, title, rule, str(true_when), null_when)
    return labels


def _parse_scorecard(
    raw: object, labels: Mapping[str, LabelSpec], errors: list[str]
) -> Scorecard | None:
    if not isinstance(raw, dict):
        errors.append(msg("scorecard 必须是 JSON 对象"))
        return None
    before = len(errors)
    errors.extend(msg("scorecard 不认识的字段「{field}」", field=k)
                  for k in sorted(set(raw) - _SCORECARD_FIELDS))  # fmt: skip
    base = raw.get("base", 100)
    if not _non_negative_int(base):
        errors.append(msg("scorecard.base 必须是正整数"))
    points: dict[str, int] = {}
    for key, value in _mapping(raw.get("points", {}), "scorecard.points", errors).items():
        if _known(key, labels, "scorecard.points", errors) and _points(value, key, errors):
            points[key] = value
    deductions: dict[str, Deduction] = {}
    for key, value in _mapping(raw.get("deductions", {}), "scorecard.deductions", errors).items():
        if not _known(key, labels, "scorecard.deductions", errors):
            continue
        if not isinstance(value, dict) or set(value) - {"points", "per_occurrence"}:
            errors.append(msg("scorecard.deductions.{key} 的格式为 {shape}", key=key,
                              shape='{"points": N, "per_occurrence": bool}'))  # fmt: skip
        elif _points(value.get("points"), key, errors):
            deductions[key] = Deduction(value["points"], bool(value.get("per_occurrence", False)))
    # Messages without parameters: their braces are literal text.
    critical = _conditions(
        raw.get("critical", []), "when", "scorecard.critical", labels, errors,
        msg('scorecard.critical 的每一项格式为 {"label": 质检项, "when": 值}'),
    )  # fmt: skip
    flag = raw.get("flag", {})
    if not isinstance(flag, dict) or set(flag) - {"below", "when"}:
        errors.append(msg('scorecard.flag 的格式为 {"below": 分数, "when": [...]}'))
        flag = {}
    below = flag.get("below", 0)
    if not isinstance(below, int | float) or isinstance(below, bool):
        errors.append(msg("scorecard.flag.below 必须是数字"))
    flag_when = _conditions(
        flag.get("when", []), "value", "scorecard.flag.when", labels, errors,
        msg('scorecard.flag.when 的每一项格式为 {"label": 质检项, "value": 值}'),
    )  # fmt: skip
    manual = _parse_manual(raw.get("manual", {}), labels, errors)
    sections = _parse_sections(raw.get("sections", []), [*labels, *manual], errors)
    if len(errors) > before:
        return None
    titles = {key: spec.title for key, spec in labels.items()}
    rules = {key: spec.rule for key, spec in labels.items() if spec.rule is not None}
    return Scorecard(int(base), points, deductions, critical, float(below), flag_when, titles,
                     manual, sections, rules)  # fmt: skip


def _parse_manual(
    raw: object, labels: Mapping[str, LabelSpec], errors: list[str]
) -> dict[str, ManualItem]:
    items: dict[str, ManualItem] = {}
    for key, value in _mapping(raw, "scorecard.manual", errors).items():
        if key in labels:
            errors.append(msg("人工项「{key}」与自动质检项重名", key=key))
            continue
        if not isinstance(value, dict):
            errors.append(msg("人工项「{key}」：必须是 JSON 对象", key=key))
            continue
        errors.extend(msg("人工项「{key}」：不认识的字段「{field}」", key=key, field=k)
                      for k in sorted(set(value) - _MANUAL_FIELDS))  # fmt: skip
        title = value.get("title")
        if not isinstance(title, str) or not title.strip():
            errors.append(msg("人工项「{key}」：title 必须是非空字符串", key=key))
            continue
        if not _points(value.get("points"), key, errors):
            continue
        critical = value.get("critical", False)
        if not isinstance(critical, bool):
            errors.append(msg("人工项「{key}」：critical 必须是 true 或 false", key=key))
            continue
        items[key] = ManualItem(key, title.strip(), int(value["points"]), critical)
    return items


def _parse_sections(raw: object, keys: Sequence[str], errors: list[str]) -> tuple[Section, ...]:
    if not isinstance(raw, list):
        errors.append(msg("scorecard.sections 必须是列表"))
        return ()
    known, placed = set(keys), set()
    sections: list[Section] = []
    for item in raw:
        if (not isinstance(item, dict) or set(item) != {"title", "items"}
                or not isinstance(item["title"], str) or not item["title"].strip()
                or not isinstance(item["items"], list)):  # fmt: skip
            errors.append(
                msg('scorecard.sections 的每一项格式为 {"title": 标题, "items": [质检项, ...]}')
            )
            continue
        for key in item["items"]:
            if key not in known:
                errors.append(msg("scorecard.sections「{section}」引用了不存在的质检项「{key}」",
                                  section=item["title"], key=key))  # fmt: skip
            elif key in placed:
                errors.append(msg("质检项「{key}」出现在多个分组中", key=key))
            placed.add(key)
        sections.append(Section(item["title"].strip(), tuple(str(k) for k in item["items"])))
    return tuple(sections)


def _mapping(raw: object, where: str, errors: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        errors.append(msg("{where} 必须是 JSON 对象", where=where))
        return {}
    return raw


def _known(key: str, labels: Mapping[str, LabelSpec], where: str, errors: list[str]) -> bool:
    if key in labels:
        return True
    errors.append(msg("{where} 引用了不存在的质检项「{key}」", where=where, key=key))
    return False


def _points(value: object, key: str, errors: list[str]) -> bool:
    if _non_negative_int(value) is not None:
        return True
    errors.append(msg("质检项「{key}」的分值必须是非负整数", key=key))
    return False


def _conditions(
    raw: object, value_key: str, where: str, labels: Mapping[str, LabelSpec], errors: list[str],
    bad_item: str,
) -> tuple[LabelCondition, ...]:  # fmt: skip
    """`bad_item` is the message for an item of the wrong shape."""
    if not isinstance(raw, list):
        errors.append(msg("{where} 必须是列表", where=where))
        return ()
    out: list[LabelCondition] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"label", value_key}:
            errors.append(bad_item)
            continue
        value = item[value_key]
        if not isinstance(value, bool | str):
            errors.append(msg("{where}：{label} 的值必须是 true/false 或情绪标签", where=where,
                              label=item["label"]))  # fmt: skip
            continue
        if _known(item["label"], labels, where, errors):
            out.append(LabelCondition(item["label"], value))
    return tuple(out)


def resolve_pack(name_or_path: str) -> Path:
    """"standard" → fixtures/rulepacks/standard.json; anything with a suffix or slash is a path."""
    candidate = Path(name_or_path)
    if candidate.suffix or len(candidate.parts) > 1:
        return candidate
    return PACK_DIR / f"{name_or_path}.json"


def call_from_document(document: Mapping[str, Any]) -> Call:
    """A `Call` from a dev/sidecar document's `segments`, `channel_layout` and `duration_ms` only.

    Segment ids are their index; text goes through ITN as in the pipeline (raw text kept).
    Raises RulePackError for a malformed document.
    """
    raw_segments = document.get("segments")
    if not isinstance(raw_segments, list):
        raise RulePackError([msg("通话文件缺少 segments 列表")])
    segments: list[Seg] = []
    errors: list[str] = []
    for index, item in enumerate(raw_segments):
        number = index + 1
        if not isinstance(item, dict):
            errors.append(msg("第 {number} 个片段不是 JSON 对象", number=number))
            continue
        role, text = item.get("role"), item.get("text")
        start, end = _non_negative_int(item.get("start_ms")), _non_negative_int(item.get("end_ms"))
        if role not in ROLES or not isinstance(text, str):
            errors.append(msg("第 {number} 个片段的 role 或 text 无效", number=number))
        elif start is None or end is None or end < start:
            errors.append(msg("第 {number} 个片段的时间无效", number=number))
        else:
            emotion = item.get("emotion")
            segments.append(Seg(
                id=index, role=str(role), start_ms=start, end_ms=end, text=normalize(text),
                raw_text=text, emotion=emotion if isinstance(emotion, str) else "",
            ))  # fmt: skip
    layout = document.get("channel_layout", "stereo")
    if layout not in ("stereo", "mono"):
        errors.append(msg("channel_layout 只能是 stereo 或 mono，收到 {value}", value=repr(layout)))
    if errors:
        raise RulePackError(errors)
    duration_ms = _non_negative_int(document.get("duration_ms")) or 0
    return Call(segments=tuple(segments), channel_layout=str(layout), duration_ms=duration_ms)


def _non_negative_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

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
from analytics.rules.spec import RuleSpecError
from analytics.rules.types import Call, Hit, RuleOutcome, Seg
from transcription.asr.itn import normalize

PACK_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "rulepacks"
TRUE_WHEN = ("fired", "not_fired")
NULL_WHEN = ("not_applies", "mono")
SENTIMENT_ROLES = ("customer", "agent")
SENTIMENT_SCOPES = ("start", "end", "overall")
SENTIMENT_NAMES = {"negative": "负面", "neutral": "中性", "positive": "正面"}
ROLES = ("agent", "customer", "unknown")
_PACK_FIELDS = {"name", "title", "version", "description", "rules", "labels", "scorecard"}
_LABEL_FIELDS = {"title", "rule", "true_when", "null_when", "sentiment", "scope", "note"}
_SCORECARD_FIELDS = {
    "base", "points", "deductions", "critical", "flag", "note", "sections", "manual",
}
_MANUAL_FIELDS = {"title", "points", "critical", "note"}
MANUAL_VALUES = ("pass", "fail", "na")
UNSECTIONED = "其他"

Prediction = bool | str | None


class RulePackError(ValueError):
    """A pack (or a call document) is invalid; `errors` holds one Chinese message per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("；".join(self.errors))


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
        reasons += [f"严重项：{item.title}不合格（记 0 分）" for k, item in self.manual.items()
                    if k in critical]  # fmt: skip
        if score < self.flag_below and not critical:  # a critical failure says it already
            reasons.append(f"得分 {score} 低于 {self.flag_below:g} 分")
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
        state = "出现" if condition.value is True else "不合格"
        return f"严重项：{self._title(condition.label)}{state}（记 0 分）"

    def _reason(self, condition: LabelCondition) -> str:
        if isinstance(condition.value, str):
            value = SENTIMENT_NAMES.get(condition.value, condition.value)
            return f"{self._title(condition.label)}为{value}"
        return self._title(condition.label) + ("" if condition.value else "不合格")


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
            raise RulePackError([f"无法读取规则包 {path}：{exc.strerror or exc}"]) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RulePackError([f"规则包 {path} 不是有效的 UTF-8 JSON：{exc}"]) from None
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: object) -> RulePack:
        if not isinstance(document, dict):
            raise RulePackError(["规则包的顶层必须是 JSON 对象"])
        errors = [f"规则包不认识的字段「{k}」" for k in sorted(set(document) - _PACK_FIELDS)]
        name, title, version = document.get("name"), document.get("title"), document.get("version")
        if not isinstance(name, str) or not name.strip():
            errors.append("name 必须是非空字符串")
        if not isinstance(title, str) or not title.strip():
            errors.append("title 必须是非空字符串")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            errors.append("version 必须是正整数")
        rules = document.get("rules")
        rule_set: CompiledRuleSet | None = None
        if not isinstance(rules, list) or not rules:
            errors.append("rules 必须是非空的规则列表")
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
        errors.append("labels 必须是非空对象：质检项 → 读取方式")
        return {}
    labels: dict[str, LabelSpec] = {}
    for key, item in raw.items():
        where = f"质检项「{key}」"
        if not isinstance(item, dict):
            errors.append(f"{where}：必须是 JSON 对象")
            continue
        errors.extend(f"{where}：不认识的字段「{k}」" for k in sorted(set(item) - _LABEL_FIELDS))
        title = item.get("title", key)
        if not isinstance(title, str) or not title.strip():
            errors.append(f"{where}：title 必须是非空字符串")
            continue
        if ("rule" in item) == ("sentiment" in item):
            errors.append(f"{where}：rule 与 sentiment 必须恰好设置一个")
            continue
        if "sentiment" in item:
            role, scope = item["sentiment"], item.get("scope", "end")
            if role not in SENTIMENT_ROLES or scope not in SENTIMENT_SCOPES:
                errors.append(f"{where}：sentiment 只能是 customer/agent，scope 只能是 "
                              f"{'、'.join(SENTIMENT_SCOPES)}")  # fmt: skip
                continue
            labels[key] = LabelSpec(key, title, sentiment=role, scope=scope)
            continue
        rule, true_when, null_when = item["rule"], item.get("true_when"), item.get("null_when")
        if not isinstance(rule, str) or (not rules_failed and rule not in preconditions):
            errors.append(f"{where}：引用了不存在的规则「{rule}」")
            continue
        if true_when not in TRUE_WHEN:
            errors.append(f"{where}：true_when 只能是 fired 或 not_fired")
            continue
        if null_when is not None and null_when not in NULL_WHEN:
            errors.append(f"{where}：null_when 只能是 not_applies 或 mono")
            continue
        if null_when == "not_applies" and not preconditions.get(rule, True):
            errors.append(f"{where}：规则「{rule}」没有前置条件，not_applies 永远不会成立")
            continue
        labels[key] = LabelSpec(key, title, rule, str(true_when), null_when)
    return labels


def _parse_scorecard(
    raw: object, labels: Mapping[str, LabelSpec], errors: list[str]
) -> Scorecard | None:
    if not isinstance(raw, dict):
        errors.append("scorecard 必须是 JSON 对象")
        return None
    before = len(errors)
    errors.extend(f"scorecard 不认识的字段「{k}」" for k in sorted(set(raw) - _SCORECARD_FIELDS))
    base = raw.get("base", 100)
    if not _non_negative_int(base):
        errors.append("scorecard.base 必须是正整数")
    points: dict[str, int] = {}
    for key, value in _mapping(raw.get("points", {}), "scorecard.points", errors).items():
        if _known(key, labels, "scorecard.points", errors) and _points(value, key, errors):
            points[key] = value
    deductions: dict[str, Deduction] = {}
    for key, value in _mapping(raw.get("deductions", {}), "scorecard.deductions", errors).items():
        if not _known(key, labels, "scorecard.deductions", errors):
            continue
        if not isinstance(value, dict) or set(value) - {"points", "per_occurrence"}:
            errors.append(
                f"scorecard.deductions.{key} 的格式为 {{\"points\": N, \"per_occurrence\": bool}}"
            )
        elif _points(value.get("points"), key, errors):
            deductions[key] = Deduction(value["points"], bool(value.get("per_occurrence", False)))
    critical = _conditions(raw.get("critical", []), "when", "scorecard.critical", labels, errors)
    flag = raw.get("flag", {})
    if not isinstance(flag, dict) or set(flag) - {"below", "when"}:
        errors.append("scorecard.flag 的格式为 {\"below\": 分数, \"when\": [...]}")
        flag = {}
    below = flag.get("below", 0)
    if not isinstance(below, int | float) or isinstance(below, bool):
        errors.append("scorecard.flag.below 必须是数字")
    flag_when = _conditions(flag.get("when", []), "value", "scorecard.flag.when", labels, errors)
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
        where = f"人工项「{key}」"
        if key in labels:
            errors.append(f"{where}与自动质检项重名")
            continue
        if not isinstance(value, dict):
            errors.append(f"{where}：必须是 JSON 对象")
            continue
        errors.extend(f"{where}：不认识的字段「{k}」" for k in sorted(set(value) - _MANUAL_FIELDS))
        title = value.get("title")
        if not isinstance(title, str) or not title.strip():
            errors.append(f"{where}：title 必须是非空字符串")
            continue
        if not _points(value.get("points"), key, errors):
            continue
        critical = value.get("critical", False)
        if not isinstance(critical, bool):
            errors.append(f"{where}：critical 必须是 true 或 false")
            continue
        items[key] = ManualItem(key, title.strip(), int(value["points"]), critical)
    return items


def _parse_sections(raw: object, keys: Sequence[str], errors: list[str]) -> tuple[Section, ...]:
    if not isinstance(raw, list):
        errors.append("scorecard.sections 必须是列表")
        return ()
    known, placed = set(keys), set()
    sections: list[Section] = []
    for item in raw:
        if (not isinstance(item, dict) or set(item) != {"title", "items"}
                or not isinstance(item["title"], str) or not item["title"].strip()
                or not isinstance(item["items"], list)):  # fmt: skip
            errors.append(
                'scorecard.sections 的每一项格式为 {"title": 标题, "items": [质检项, ...]}'
            )
            continue
        for key in item["items"]:
            if key not in known:
                errors.append(f"scorecard.sections「{item['title']}」引用了不存在的质检项「{key}」")
            elif key in placed:
                errors.append(f"质检项「{key}」出现在多个分组中")
            placed.add(key)
        sections.append(Section(item["title"].strip(), tuple(str(k) for k in item["items"])))
    return tuple(sections)


def _mapping(raw: object, where: str, errors: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        errors.append(f"{where} 必须是 JSON 对象")
        return {}
    return raw


def _known(key: str, labels: Mapping[str, LabelSpec], where: str, errors: list[str]) -> bool:
    if key in labels:
        return True
    errors.append(f"{where} 引用了不存在的质检项「{key}」")
    return False


def _points(value: object, key: str, errors: list[str]) -> bool:
    if _non_negative_int(value) is not None:
        return True
    errors.append(f"质检项「{key}」的分值必须是非负整数")
    return False


def _conditions(
    raw: object, value_key: str, where: str, labels: Mapping[str, LabelSpec], errors: list[str]
) -> tuple[LabelCondition, ...]:
    if not isinstance(raw, list):
        errors.append(f"{where} 必须是列表")
        return ()
    out: list[LabelCondition] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"label", value_key}:
            errors.append(f"{where} 的每一项格式为 {{\"label\": 质检项, \"{value_key}\": 值}}")
            continue
        value = item[value_key]
        if not isinstance(value, bool | str):
            errors.append(f"{where}：{item['label']} 的值必须是 true/false 或情绪标签")
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
        raise RulePackError(["通话文件缺少 segments 列表"])
    segments: list[Seg] = []
    errors: list[str] = []
    for index, item in enumerate(raw_segments):
        where = f"第 {index + 1} 个片段"
        if not isinstance(item, dict):
            errors.append(f"{where}不是 JSON 对象")
            continue
        role, text = item.get("role"), item.get("text")
        start, end = _non_negative_int(item.get("start_ms")), _non_negative_int(item.get("end_ms"))
        if role not in ROLES or not isinstance(text, str):
            errors.append(f"{where}的 role 或 text 无效")
        elif start is None or end is None or end < start:
            errors.append(f"{where}的时间无效")
        else:
            emotion = item.get("emotion")
            segments.append(Seg(
                id=index, role=str(role), start_ms=start, end_ms=end, text=normalize(text),
                raw_text=text, emotion=emotion if isinstance(emotion, str) else "",
            ))  # fmt: skip
    layout = document.get("channel_layout", "stereo")
    if layout not in ("stereo", "mono"):
        errors.append(f"channel_layout 只能是 stereo 或 mono，收到 {layout!r}")
    if errors:
        raise RulePackError(errors)
    duration_ms = _non_negative_int(document.get("duration_ms")) or 0
    return Call(segments=tuple(segments), channel_layout=str(layout), duration_ms=duration_ms)


def _non_negative_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

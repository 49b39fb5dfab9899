"""Measure a rule pack on labelled calls (the dev format of the eval README).

Each call is analysed from its `segments`, `channel_layout` and `duration_ms` only; `labels` are
read afterwards, for scoring. Per boolean label, over the calls whose gold value is not null:
TP = gold true & predicted true, FP = gold false & predicted true, FN = gold true & predicted not
true (a predicted null counts as not true). A ratio with an empty denominator is 1.0 (nothing to
get wrong). Applicability (null vs not) is reported separately for labels read with
``null_when: not_applies``. Flagging compares the scorecard run on gold labels (every occurrence
count 1) with the pack's own score and flag.

PII (eval README item 4) is found with `transcription.pii.find_pii` on each call's segments. A
predicted span is a TP when it lies in the gold entry's segment, has its type and covers its
`text` (exact or containing it): precision = predicted spans that hit / predicted spans, recall
= gold entries covered / gold entries, per type and overall. A call has unmasked PII left when,
after masking every predicted span (whatever its type), some occurrence of a gold `text` in its
segment still shows a digit.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.rulepack import (
    PackResult,
    Prediction,
    RulePack,
    RulePackError,
    call_from_document,
    resolve_pack,
)
from analytics.rules.sentiment import LABELS as SENTIMENT_LABELS
from transcription.pii import DIGIT_CHARS, PiiSpan, find_pii, mask
from transcription.pii import TYPES as PII_TYPES

PII_TITLES = {"phone": "手机号", "id_number": "身份证号", "bank_card": "银行卡号", "cvv": "安全码"}

_ANALYSED_FIELDS = ("segments", "channel_layout", "duration_ms")


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    fp_ids: list[str] = field(default_factory=list)
    fn_ids: list[str] = field(default_factory=list)

    def add(self, call_id: str, gold: bool, predicted: bool) -> None:
        if gold and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
            self.fp_ids.append(call_id)
        elif gold:
            self.fn += 1
            self.fn_ids.append(call_id)
        else:
            self.tn += 1

    def summary(self) -> dict[str, Any]:
        precision = _ratio(self.tp, self.tp + self.fp)
        recall = _ratio(self.tp, self.tp + self.fn)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": self.tp + self.fp + self.fn + self.tn, "positives": self.tp + self.fn,
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
            "fp_ids": self.fp_ids, "fn_ids": self.fn_ids,
        }  # fmt: skip


@dataclass
class Scored:
    call_id: str
    gold: dict[str, Any]
    result: PackResult
    texts: list[str] = field(default_factory=list)  # segment texts, as analysed
    pii: list[PiiSpan] = field(default_factory=list)  # what find_pii predicted


@dataclass
class SpanScore:
    """Span-level PII counts for one type (or all): hits counted as the eval README says."""

    predicted: int = 0
    predicted_hits: int = 0
    gold: int = 0
    gold_covered: int = 0
    fp_spans: list[str] = field(default_factory=list)
    fn_spans: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        precision = _ratio(self.predicted_hits, self.predicted)
        recall = _ratio(self.gold_covered, self.gold)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": self.gold, "predicted": self.predicted, "tp": self.predicted_hits,
            "fp": self.predicted - self.predicted_hits, "fn": self.gold - self.gold_covered,
            "fp_spans": self.fp_spans, "fn_spans": self.fn_spans,
        }  # fmt: skip


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _left(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 1)


def _right(text: str, width: int) -> str:
    return " " * max(width - _width(text), 1) + text


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


class Command(BaseCommand):
    help = (
        "在标注好的通话（开发集格式）上评测规则包："
        "各质检项的精确率、召回率、F1，情绪混淆矩阵，复核标记。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="放 *.json 通话文件的目录")
        parser.add_argument(
            "--pack", default="standard",
            help="规则包名称（fixtures/rulepacks/NAME.json）或文件路径，默认 standard",
        )  # fmt: skip
        parser.add_argument(
            "--json", action="store_true",
            help="最后一行输出 JSON：{质检项: {precision, recall, f1, support}, ...}",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        if not directory.is_dir():
            raise CommandError(f"目录不存在：{directory}")
        files = sorted(directory.glob("*.json"))
        if not files:
            raise CommandError(f"目录 {directory} 里没有 *.json 通话文件")
        pack_path = resolve_pack(options["pack"])
        try:
            pack = RulePack.load(pack_path)
        except RulePackError as exc:
            raise CommandError(f"规则包 {pack_path} 无效：{exc}") from None
        scored = [self._score(pack, path) for path in files]
        summary = self._report(pack, scored, directory)
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))

    @staticmethod
    def _score(pack: RulePack, path: Path) -> Scored:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"无法读取 {path.name}：{exc}") from None
        if not isinstance(document, dict):
            raise CommandError(f"{path.name}：顶层必须是 JSON 对象")
        try:  # the analysis sees only what a real call has: no labels, no notes
            call = call_from_document({k: document[k] for k in _ANALYSED_FIELDS if k in document})
        except RulePackError as exc:
            raise CommandError(f"{path.name}：{exc}") from None
        result = pack.evaluate(call)
        segments = document.get("segments") or []
        texts = [str(seg.get("text") or "") for seg in segments]
        pii = find_pii(segments)
        gold = document.get("labels")
        if not isinstance(gold, dict):
            raise CommandError(f"{path.name}：缺少 labels，无法评测")
        _check_pii_labels(path.name, gold.get("pii"), texts)
        return Scored(str(document.get("call_id") or path.stem), gold, result, texts, pii)

    def _report(self, pack: RulePack, scored: list[Scored], directory: Path) -> dict[str, Any]:
        out = self.stdout.write
        out(f"规则包 {pack.name} v{pack.version}（{pack.title}），"
            f"{len(scored)} 通通话：{directory}")  # fmt: skip
        summary: dict[str, Any] = {}
        out("")
        heads = ("精确率", "召回率", "F1", "样本", "正例")
        out(_left("质检项", 30) + "".join(_right(h, 9 if i < 3 else 7) for i, h in enumerate(heads))
            + f"{'TP':>6}{'FP':>5}{'FN':>5}")  # fmt: skip
        bool_labels = [k for k, spec in pack.labels.items() if spec.sentiment is None]
        for key in bool_labels:
            confusion = Confusion()
            for item in scored:
                gold = item.gold.get(key)
                if isinstance(gold, bool):
                    confusion.add(item.call_id, gold, item.result.predictions.get(key) is True)
            summary[key] = confusion.summary()
            self._row(f"{key} {pack.labels[key].title}", summary[key])
        flagged = Confusion()
        for item in scored:
            gold_flag = pack.scorecard.score(item.gold).flagged
            flagged.add(item.call_id, gold_flag, item.result.flagged)
        summary["flagged"] = flagged.summary()
        self._row("flagged 复核标记", summary["flagged"])
        self._applicability(pack, scored, summary)
        for key, spec in pack.labels.items():
            if spec.sentiment is not None:
                summary[key] = self._sentiment(key, scored)
        summary["pii"] = self._pii(scored)
        self._errors([*bool_labels, "flagged"], summary)
        summary["_meta"] = {"pack": f"{pack.name}@{pack.version}", "calls": len(scored),
                            "gold_flagged": flagged.tp + flagged.fn,
                            "predicted_flagged": flagged.tp + flagged.fp}  # fmt: skip
        rule_errors = sorted({f"{s.call_id}:{k}" for s in scored for k in s.result.errors})
        if rule_errors:
            out(f"运行出错的规则（该质检项按未知处理）：{'、'.join(rule_errors)}")
        return summary

    def _row(self, name: str, row: dict[str, Any]) -> None:
        self.stdout.write(
            f"{_left(name, 30)}{row['precision']:>9.3f}{row['recall']:>9.3f}{row['f1']:>9.3f}"
            f"{row['support']:>7}{row['positives']:>7}{row['tp']:>6}{row['fp']:>5}{row['fn']:>5}"
        )

    def _applicability(self, pack: RulePack, scored: list[Scored], summary: dict[str, Any]) -> None:
        keys = [k for k, spec in pack.labels.items() if spec.null_when == "not_applies"]
        if not keys:
            return
        self.stdout.write("")
        self.stdout.write("适用性（是否为 null）一致率：")
        for key in keys:
            wrong = [
                s.call_id for s in scored
                if (s.gold.get(key) is None) != (s.result.predictions.get(key) is None)
            ]  # fmt: skip
            agree = len(scored) - len(wrong)
            summary[key]["applicability"] = {"agreement": round(agree / len(scored), 4),
                                             "mismatch_ids": wrong}  # fmt: skip
            listed = f"，不一致：{'、'.join(wrong)}" if wrong else ""
            self.stdout.write(f"  {key}: {agree}/{len(scored)} = {agree / len(scored):.3f}{listed}")

    def _sentiment(self, key: str, scored: list[Scored]) -> dict[str, Any]:
        out = self.stdout.write
        matrix = {g: dict.fromkeys(SENTIMENT_LABELS, 0) for g in SENTIMENT_LABELS}
        wrong: list[str] = []
        for item in scored:
            gold, predicted = item.gold.get(key), item.result.predictions.get(key)
            if gold in matrix and predicted in matrix:
                matrix[str(gold)][str(predicted)] += 1
            if gold in matrix and gold != predicted:
                wrong.append(f"{item.call_id}（标注 {gold}，预测 {predicted}）")
        total = sum(sum(row.values()) for row in matrix.values())
        correct = sum(matrix[label][label] for label in SENTIMENT_LABELS)
        per_class: dict[str, dict[str, float]] = {}
        for label in SENTIMENT_LABELS:
            hits = matrix[label][label]
            column = sum(matrix[g][label] for g in SENTIMENT_LABELS)
            per_class[label] = {"precision": round(_ratio(hits, column), 4),
                                "recall": round(_ratio(hits, sum(matrix[label].values())), 4)}
        accuracy = _ratio(correct, total)
        out("")
        out(f"{key}：准确率 {correct}/{total} = {accuracy:.3f}；混淆矩阵（行＝标注，列＝预测）")
        columns = "".join(f"{label:>10}" for label in SENTIMENT_LABELS)
        out(f"{'':>12}{columns}{_right('召回率', 10)}")
        for gold in SENTIMENT_LABELS:
            cells = "".join(f"{matrix[gold][p]:>10}" for p in SENTIMENT_LABELS)
            out(f"{gold:>12}{cells}{per_class[gold]['recall']:>10.3f}")
        precisions = "".join(f"{per_class[p]['precision']:>10.3f}" for p in SENTIMENT_LABELS)
        out(f"{_right('精确率', 12)}{precisions}")
        if wrong:
            out(f"  判错：{'、'.join(wrong)}")
        macro_p = sum(c["precision"] for c in per_class.values()) / len(per_class)
        macro_r = sum(c["recall"] for c in per_class.values()) / len(per_class)
        macro_f1 = 2 * macro_p * macro_r / (macro_p + macro_r) if macro_p + macro_r else 0.0
        return {"precision": round(macro_p, 4), "recall": round(macro_r, 4),
                "f1": round(macro_f1, 4), "support": total, "accuracy": round(accuracy, 4),
                "confusion": matrix, "per_class": per_class}  # fmt: skip

    def _pii(self, scored: list[Scored]) -> dict[str, Any]:
        out = self.stdout.write
        scores = {t: SpanScore() for t in PII_TYPES}
        unmasked: list[str] = []
        for item in scored:
            gold = item.gold.get("pii") or []
            for span in item.pii:
                score = scores[span.type]
                score.predicted += 1
                if any(_covers(span, g) for g in gold):
                    score.predicted_hits += 1
                else:
                    score.fp_spans.append(f"{item.call_id}#{span.segment_index}「{span.text}」")
            for g in gold:
                score = scores[g["type"]]
                score.gold += 1
                if any(_covers(span, g) for span in item.pii):
                    score.gold_covered += 1
                else:
                    score.fn_spans.append(f"{item.call_id}#{g['segment']}「{g['text']}」")
            if any(_left_unmasked(item, g) for g in gold):
                unmasked.append(item.call_id)
        overall = SpanScore()
        for score in scores.values():
            overall.predicted += score.predicted
            overall.predicted_hits += score.predicted_hits
            overall.gold += score.gold
            overall.gold_covered += score.gold_covered
            overall.fp_spans += score.fp_spans
            overall.fn_spans += score.fn_spans
        result: dict[str, Any] = {t: scores[t].summary() for t in PII_TYPES}
        result["overall"] = overall.summary()
        result["calls_with_unmasked_pii"] = len(unmasked)
        result["unmasked_call_ids"] = unmasked
        out("")
        out("PII 脱敏（片段级：同一片段、同一类型、预测片段覆盖标注文本即命中）：")
        heads = ("精确率", "召回率", "F1", "标注", "预测")
        out(_left("类型", 30) + "".join(_right(h, 9 if i < 3 else 7) for i, h in enumerate(heads))
            + f"{'TP':>6}{'FP':>5}{'FN':>5}")  # fmt: skip
        for key in (*PII_TYPES, "overall"):
            row = result[key]
            title = PII_TITLES.get(key, "合计")
            out(f"{_left(f'{key} {title}', 30)}{row['precision']:>9.3f}{row['recall']:>9.3f}"
                f"{row['f1']:>9.3f}{row['support']:>7}{row['predicted']:>7}{row['tp']:>6}"
                f"{row['fp']:>5}{row['fn']:>5}")  # fmt: skip
        listed = f"：{'、'.join(unmasked)}" if unmasked else ""
        out(f"仍有未脱敏 PII 的通话：{len(unmasked)}/{len(scored)}{listed}")
        for key in PII_TYPES:
            fp, fn = result[key]["fp_spans"], result[key]["fn_spans"]
            if fp or fn:
                out(f"  PII {key}: FP {'、'.join(fp) or '—'}；FN {'、'.join(fn) or '—'}")
        return result

    def _errors(self, keys: list[str], summary: dict[str, Any]) -> None:
        self.stdout.write("")
        self.stdout.write("误报（FP）/漏报（FN）通话：")
        for key in keys:
            fp, fn = summary[key]["fp_ids"], summary[key]["fn_ids"]
            self.stdout.write(f"  {key}: FP {'、'.join(fp) or '—'}；FN {'、'.join(fn) or '—'}")


def _check_pii_labels(name: str, labels: object, texts: list[str]) -> None:
    """Gold PII entries must point at a segment and quote it; a broken label fails loudly."""
    if labels is None:
        return
    if not isinstance(labels, list):
        raise CommandError(f"{name}：labels.pii 必须是列表")
    for number, entry in enumerate(labels, start=1):
        ok = (
            isinstance(entry, dict) and entry.get("type") in PII_TYPES
            and isinstance(entry.get("segment"), int) and 0 <= entry["segment"] < len(texts)
            and isinstance(entry.get("text"), str) and entry["text"]
            and entry["text"] in texts[entry["segment"]]
        )  # fmt: skip
        if not ok:
            raise CommandError(f"{name}：labels.pii 第 {number} 条无效（需 segment、type、"
                               f"该片段中的原文 text）：{entry!r}")  # fmt: skip


def _covers(span: PiiSpan, gold: dict[str, Any]) -> bool:
    return (span.segment_index == gold["segment"] and span.type == gold["type"]
            and gold["text"] in span.text)  # fmt: skip


def _left_unmasked(item: Scored, gold: dict[str, Any]) -> bool:
    """Whether some occurrence of the gold text still shows a digit after masking."""
    text = item.texts[gold["segment"]]
    masked = mask(text, [s for s in item.pii if s.segment_index == gold["segment"]])
    needle, start = gold["text"], text.find(gold["text"])
    while start >= 0:
        if any(ch in DIGIT_CHARS for ch in masked[start:start + len(needle)]):
            return True
        start = text.find(needle, start + 1)
    return False


__all__ = ["Command", "Confusion", "Prediction"]

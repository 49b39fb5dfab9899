"""Customer end-of-call sentiment on the labelled dev calls.

Runs `analytics.rules.sentiment.call_sentiment` on each call's segments and
channel layout only (labels and notes are read only for scoring), and compares
the customer's "end" label (last three turns) with `customer_sentiment_end`.
Prints per-class precision/recall/F1, the confusion matrix, macro-F1, accuracy
and every misclassified call_id. Last stdout line: `RESULT {json}`.

    .venv/bin/python benchmarks/sentiment_dev.py [--dev DIR] [--verbose]

DIR defaults to $QA_EVAL_DEV_DIR or ../shared/eval/dev beside the checkout. When it is absent the
script prints why and exits 0 with `RESULT {"skipped": ...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

from analytics.rules.sentiment import LABELS, call_sentiment  # noqa: E402
from analytics.rules.types import Call, Seg  # noqa: E402

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev"
DEFAULT_DEV_DIR = Path(os.environ.get("QA_EVAL_DEV_DIR", _BESIDE_CHECKOUT))
TARGET_MACRO_F1 = 0.8


def load_call(data: dict[str, Any]) -> Call:
    """Only segments, channel layout and duration: never labels or notes."""
    segments = tuple(
        Seg(
            id=i,
            role=s["role"],
            start_ms=s["start_ms"],
            end_ms=s["end_ms"],
            text=s["text"],
            emotion=s.get("emotion", ""),
        )
        for i, s in enumerate(data["segments"])
    )
    return Call(
        segments=segments,
        channel_layout=data.get("channel_layout", "stereo"),
        duration_ms=data.get("duration_ms", 0),
    )


def evaluate(dev_dir: Path, verbose: bool = False) -> dict[str, Any]:
    gold: list[str] = []
    pred: list[str] = []
    errors: list[dict[str, Any]] = []
    for path in sorted(dev_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        call = load_call(data)
        role = call_sentiment(call).by_role["customer"]
        expected = data["labels"]["customer_sentiment_end"]
        gold.append(expected)
        pred.append(role.end)
        if role.end != expected:
            errors.append(
                {
                    "call_id": data["call_id"],
                    "gold": expected,
                    "pred": role.end,
                    "score": role.end_score,
                }
            )
        if verbose:
            mark = "  " if role.end == expected else "✗ "
            score = f"{role.end_score:+.3f}"
            print(f"{mark}{data['call_id']} gold={expected:<8} pred={role.end:<8} {score}")
    confusion = {g: {p: 0 for p in LABELS} for g in LABELS}
    for g, p in zip(gold, pred, strict=True):
        confusion[g][p] += 1
    per_class: dict[str, dict[str, float]] = {}
    for label in LABELS:
        tp = confusion[label][label]
        predicted = sum(confusion[g][label] for g in LABELS)
        actual = sum(confusion[label].values())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": actual,
        }
    macro_f1 = sum(c["f1"] for c in per_class.values()) / len(LABELS)
    accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold) if gold else 0.0
    return {
        "calls": len(gold),
        "macro_f1": round(macro_f1, 4),
        "accuracy": round(accuracy, 4),
        "per_class": per_class,
        "confusion": confusion,
        "errors": errors,
        "meets_target": macro_f1 >= TARGET_MACRO_F1,
    }


def report(result: dict[str, Any]) -> None:
    print(f"customer_sentiment_end on {result['calls']} dev calls\n")
    print(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>8}{'support':>9}")
    for label, c in result["per_class"].items():
        print(
            f"{label:<10}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>8.3f}{c['support']:>9}"
        )
    print("\nconfusion (rows = gold, columns = predicted)")
    print(" " * 10 + "".join(f"{p:>10}" for p in LABELS))
    for g in LABELS:
        print(f"{g:<10}" + "".join(f"{result['confusion'][g][p]:>10}" for p in LABELS))
    print(
        f"\nmacro-F1 {result['macro_f1']:.3f} (target {TARGET_MACRO_F1})  "
        f"accuracy {result['accuracy']:.3f}"
    )
    print(
        "errors:",
        ", ".join(f"{e['call_id']} ({e['gold']}→{e['pred']})" for e in result["errors"]) or "none",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV_DIR, help="directory of dev_*.json")
    parser.add_argument("--verbose", action="store_true", help="one line per call")
    args = parser.parse_args()
    if not args.dev.is_dir() or not any(args.dev.glob("*.json")):
        reason = f"dev set not found at {args.dev}; nothing to evaluate"
        print(reason)
        print("RESULT " + json.dumps({"skipped": reason}, ensure_ascii=False))
        return 0
    result = evaluate(args.dev, verbose=args.verbose)
    report(result)
    print("RESULT " + json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

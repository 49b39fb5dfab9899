"""`manage.py eval_rulepack`: synthetic calls (labels and PII), errors, and the dev set."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.management.commands import eval_rulepack
from analytics.rulepack import PACK_DIR
from conftest import EVAL_DEV_DIR

DEV_DIR = EVAL_DEV_DIR
BOOLEAN_LABELS = (
    "greeting", "identity_verified", "risk_disclosure", "closing", "forbidden_language",
    "prohibited_promise", "refund_request", "complaint_escalation", "cancel_intent",
    "long_silence", "agent_interruption", "agent_fast_speech",
)  # fmt: skip
QUIET: dict[str, Any] = {label: False for label in BOOLEAN_LABELS}


def segments(*turns: tuple[str, str]) -> list[dict[str, Any]]:
    """Turns one after another, 250 ms a character, 500 ms apart."""
    out, clock = [], 1000
    for role, text in turns:
        end = clock + len(text) * 250
        out.append({"role": role, "start_ms": clock, "end_ms": end, "text": text})
        clock = end + 500
    return out


def document(call_id: str, layout: str, turns: list[dict[str, Any]], **labels: Any) -> str:
    gold = {**QUIET, "customer_sentiment_end": "neutral", "pii": [], **labels}
    if layout == "mono":
        gold["agent_interruption"] = None
    return json.dumps({"call_id": call_id, "channel_layout": layout, "segments": turns,
                       "labels": gold, "notes": "合成通话"}, ensure_ascii=False)  # fmt: skip


CALLS = {
    # Verified, refund asked for, friendly: nothing to flag.
    "syn_a": document("syn_a", "stereo", segments(
        ("agent", "您好，工号5201为您服务，请问有什么可以帮您？"),
        ("customer", "上个月扣的年费能不能给我退了？"),
        ("agent", "好的，先核实一下您的身份，请报一下身份证后四位。"),
        ("customer", "8811。"),
        ("agent", "核实通过，我这边帮您申请退还。请问还有其他可以帮您的吗？"),
        ("customer", "没有了，谢谢你，服务真好。"),
    ), greeting=True, identity_verified=True, risk_disclosure=None, closing=True,
       refund_request=True, customer_sentiment_end="positive"),
    # Mono policy question; the agent never says a job number or name.
    "syn_b": document("syn_b", "mono", segments(
        ("agent", "您好，信用卡中心，请讲。"),
        ("customer", "你们的金卡年费多少？"),
        ("agent", "金卡年费300元，刷满六次免次年年费。感谢您的来电。"),
    ), greeting=False, identity_verified=None, risk_disclosure=None, closing=True),
    # Rude agent, complaint; the gold label also claims a cancel intent nobody voiced.
    "syn_c": document("syn_c", "stereo", segments(
        ("agent", "您好，工号5202为您服务。"),
        ("customer", "你们这个还款怎么一直失败？"),
        ("agent", "你听不懂吗？系统问题。请问还有其他问题吗？"),
        ("customer", "什么态度！我要投诉你们，太差劲了！"),
    ), greeting=True, identity_verified=None, risk_disclosure=None, closing=True,
       forbidden_language=True, complaint_escalation=True, cancel_intent=True,
       customer_sentiment_end="negative"),
}  # fmt: skip


@pytest.fixture
def call_dir(tmp_path: Path) -> Path:
    for call_id, text in CALLS.items():
        (tmp_path / f"{call_id}.json").write_text(text, encoding="utf-8")
    (tmp_path / "README.txt").write_text("不是通话", encoding="utf-8")
    return tmp_path


def run(*args: str) -> tuple[str, dict[str, Any]]:
    out = StringIO()
    call_command("eval_rulepack", *args, "--json", stdout=out)
    text = out.getvalue()
    return text, json.loads(text.strip().splitlines()[-1])


def test_report_on_synthetic_calls(call_dir: Path) -> None:
    text, summary = run(str(call_dir))
    assert "规则包 standard v1（标准服务质检表），3 通通话" in text
    greeting = summary["greeting"]
    assert {k: greeting[k] for k in ("precision", "recall", "f1", "support")} == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3,
    }  # fmt: skip
    assert (greeting["tp"], greeting["tn"]) == (2, 1)
    row = next(line for line in text.splitlines() if line.startswith("greeting 开场白"))
    assert row.split()[2:] == ["1.000", "1.000", "1.000", "3", "2", "2", "0", "0"]
    cancel = summary["cancel_intent"]
    assert (cancel["recall"], cancel["f1"], cancel["fn_ids"]) == (0.0, 0.0, ["syn_c"])
    assert "  cancel_intent: FP —；FN syn_c" in text
    assert summary["agent_interruption"]["support"] == 2  # mono gold is null
    assert summary["identity_verified"]["support"] == 1
    assert summary["identity_verified"]["applicability"] == {"agreement": 1.0, "mismatch_ids": []}
    for label in ("refund_request", "forbidden_language", "complaint_escalation"):
        assert (summary[label]["precision"], summary[label]["recall"]) == (1.0, 1.0), label
    assert summary["flagged"]["tp"] == 1 and summary["flagged"]["fp_ids"] == []
    sentiment = summary["customer_sentiment_end"]
    assert sentiment["accuracy"] == 1.0
    assert sentiment["confusion"]["negative"] == {"negative": 1, "neutral": 0, "positive": 0}
    # No PII said, none predicted (身份证后四位 8811 is a partial number): nothing to get wrong.
    pii = summary["pii"]
    assert pii["overall"]["support"] == 0 and pii["overall"]["predicted"] == 0
    assert (pii["overall"]["precision"], pii["overall"]["recall"]) == (1.0, 1.0)
    assert pii["calls_with_unmasked_pii"] == 0
    assert "仍有未脱敏 PII 的通话：0/3" in text


def test_analysis_never_sees_labels_or_notes(
    call_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[set[str]] = []
    original = eval_rulepack.call_from_document

    def spy(doc: dict[str, Any]) -> Any:
        seen.append(set(doc))
        return original(doc)

    monkeypatch.setattr(eval_rulepack, "call_from_document", spy)
    run(str(call_dir))
    assert len(seen) == 3
    assert all(keys <= {"segments", "channel_layout", "duration_ms"} for keys in seen)


def test_pack_by_path(call_dir: Path) -> None:
    _text, summary = run(str(call_dir), "--pack", str(PACK_DIR / "standard.json"))
    assert summary["_meta"] == {"pack": "standard@1", "calls": 3, "gold_flagged": 1,
                                "predicted_flagged": 1}  # fmt: skip


PII_CALLS = {
    # Found: a phone number split over two turns, and a card with a CVV.
    "pii_a": document("pii_a", "stereo", segments(
        ("agent", "您好，工号5201为您服务，请报一下预留的手机号码。"),
        ("customer", "手机号是158 0841，"),
        ("agent", "嗯，您请说。"),
        ("customer", "4852。"),
        ("customer", "卡号是6222 0274 6507 5291，背面安全码是三七二。"),
    ), greeting=True, pii=[
        {"segment": 1, "type": "phone", "text": "158 0841"},
        {"segment": 3, "type": "phone", "text": "4852"},
        {"segment": 4, "type": "bank_card", "text": "6222 0274 6507 5291"},
        {"segment": 4, "type": "cvv", "text": "三七二"},
    ]),
    # The gold labels an ID number the detector misses (misheard, no context) and does not
    # label a mobile number it finds; 尾号0385 is a partial number.
    "pii_b": document("pii_b", "mono", segments(
        ("agent", "您好，信用卡中心，请讲。"),
        ("customer", "我的号嘛，330106200102086456，您尾号0385的手机，还有13812345678。"),
    ), pii=[
        {"segment": 1, "type": "id_number", "text": "330106200102086456"},
    ]),
}  # fmt: skip


def test_pii_spans_are_scored_per_type(tmp_path: Path) -> None:
    for call_id, text in PII_CALLS.items():
        (tmp_path / f"{call_id}.json").write_text(text, encoding="utf-8")
    text, summary = run(str(tmp_path))
    pii = summary["pii"]
    assert set(pii) == {"phone", "id_number", "bank_card", "cvv", "overall",
                        "calls_with_unmasked_pii", "unmasked_call_ids"}  # fmt: skip
    phone = pii["phone"]
    assert {k: phone[k] for k in ("precision", "recall", "f1", "support", "predicted")} == {
        "precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2, "predicted": 3,
    }  # fmt: skip
    assert phone["fp_spans"] == ["pii_b#1「13812345678」"]
    assert (pii["bank_card"]["recall"], pii["cvv"]["recall"]) == (1.0, 1.0)
    assert pii["id_number"] == {
        "precision": 1.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0, "tp": 0,
        "fp": 0, "fn": 1, "fp_spans": [], "fn_spans": ["pii_b#1「330106200102086456」"],
    }  # fmt: skip
    overall = pii["overall"]
    assert (overall["support"], overall["predicted"], overall["tp"]) == (5, 5, 4)
    assert (overall["precision"], overall["recall"]) == (0.8, 0.8)
    assert (pii["calls_with_unmasked_pii"], pii["unmasked_call_ids"]) == (1, ["pii_b"])
    assert "仍有未脱敏 PII 的通话：1/2：pii_b" in text
    row = next(line for line in text.splitlines() if line.startswith("phone 手机号"))
    assert row.split()[2:] == ["0.667", "1.000", "0.800", "2", "3", "2", "1", "0"]
    assert "  PII id_number: FP —；FN pii_b#1「330106200102086456」" in text
    # the label keys keep their place; PII is one more key
    assert {"greeting", "flagged", "customer_sentiment_end", "_meta"} <= set(summary)


def test_a_partly_masked_number_still_counts_as_unmasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pii_a.json").write_text(PII_CALLS["pii_a"], encoding="utf-8")

    original = eval_rulepack.find_pii

    def first_part_only(segments: Any) -> list[Any]:
        return [s for s in original(segments) if s.segment_index != 3]

    monkeypatch.setattr(eval_rulepack, "find_pii", first_part_only)
    _text, summary = run(str(tmp_path))
    assert summary["pii"]["phone"]["fn_spans"] == ["pii_a#3「4852」"]
    assert summary["pii"]["unmasked_call_ids"] == ["pii_a"]


def test_a_pii_label_that_quotes_nothing_is_an_error(tmp_path: Path) -> None:
    bad = document("bad", "mono", segments(("customer", "你好")),
                   pii=[{"segment": 0, "type": "phone", "text": "13812345678"}])
    (tmp_path / "bad.json").write_text(bad, encoding="utf-8")
    with pytest.raises(CommandError, match=r"bad\.json：labels\.pii 第 1 条无效"):
        call_command("eval_rulepack", str(tmp_path))


def test_errors_are_clear(tmp_path: Path, call_dir: Path) -> None:
    with pytest.raises(CommandError, match="目录不存在"):
        call_command("eval_rulepack", str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CommandError, match=r"没有 \*\.json 通话文件"):
        call_command("eval_rulepack", str(empty))
    bad_pack = tmp_path / "bad.json"
    bad_pack.write_text('{"name": "bad"}', encoding="utf-8")
    with pytest.raises(CommandError, match=r"规则包 .* 无效"):
        call_command("eval_rulepack", str(call_dir), "--pack", str(bad_pack))


@pytest.mark.skipif(not DEV_DIR.is_dir(), reason=f"开发集 {DEV_DIR} 不在本机，跳过")
def test_standard_pack_on_the_dev_set() -> None:
    _text, summary = run(str(DEV_DIR))
    assert summary["_meta"]["calls"] == 36
    for label in (*BOOLEAN_LABELS, "flagged"):
        row = summary[label]
        assert row["precision"] >= 0.9 and row["recall"] >= 0.9, (label, row)
    for label in ("identity_verified", "risk_disclosure"):
        assert summary[label]["applicability"]["agreement"] >= 0.9
    assert summary["customer_sentiment_end"]["accuracy"] >= 0.97  # 35/36 with the lexicon model
    pii = summary["pii"]
    assert pii["overall"]["support"] == 17
    for key in ("phone", "id_number", "bank_card", "cvv", "overall"):
        assert pii[key]["recall"] == 1.0 and pii[key]["precision"] >= 0.9, (key, pii[key])
    assert pii["calls_with_unmasked_pii"] == 0

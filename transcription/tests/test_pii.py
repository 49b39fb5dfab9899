"""PII masking: the detector on single texts and whole calls, the dev set, and storage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from conftest import EVAL_DEV_DIR
from transcription.asr.base import SegmentResult, TranscriptionResult
from transcription.models import Recording, Transcript
from transcription.pii import PiiSpan, count_by_type, find_pii, mask, mask_segments
from transcription.services.recordings import recording_transcribe, transcript_store

# Valid numbers made up for the tests: GB 11643 checksums and Luhn check digits computed.
ID_X = "11010519491231002X"
ID_OK = "330106200102086455"
ID_BAD = "330106200102086456"  # last digit off: checksum fails
CARD_OK = "6222027465075291"
CARD_BAD = "6222027465075292"  # Luhn fails


def masked(text: str) -> str:
    return mask(text, find_pii([text]))


def found(text: str) -> list[tuple[str, str]]:
    return [(s.type, s.text) for s in find_pii([text])]


@pytest.mark.parametrize(("text", "expected"), [
    # mobile numbers
    ("手机号是13812345678。", "手机号是***********。"),
    ("15633875004，快点。", "***********，快点。"),
    ("我的手机号是+86 138 1234 5678。", "我的手机号是+** *** **** ****。"),
    ("电话：138-1234-5678", "电话：***-****-****"),
    ("号码是 0086 13812345678", "号码是 **** ***********"),
    ("幺八三八八八五三九三三。", "***********。"),
    ("手机是一三八一二三四五六七八", "手机是***********"),
    ("手机号幺三八，幺二三四，五六七八。", "手机号***，****，****。"),
    ("手机号是12345678901", "手机号是***********"),  # after a phone word any 1xxxxxxxxxx
    ("客服电话13812345678", "客服电话***********"),  # a mobile is a mobile, whoever's
    # resident ID numbers
    (f"身份证号是{ID_X}", "身份证号是******************"),
    (ID_X, "*" * 18),
    (f"好的，{ID_OK}。", "好的，******************。"),
    ("三二零一零二一九九二零七零三二四六九", "*" * 18),
    ("身份证三三零一零六二零零一零二零八六四五叉", "身份证" + "*" * 18),
    (f"身份证{ID_BAD}", "身份证" + "*" * 18),  # misheard digit, but said to be an ID
    (f"{ID_BAD}是我的身份证号", "*" * 18 + "是我的身份证号"),
    # bank cards
    (CARD_OK, "*" * 16),
    ("卡号是6222 0274 6507 5291。", "卡号是**** **** **** ****。"),
    ("六二幺七零零八六五七九七五四三八", "*" * 16),
    ("卡号6228-4899-3518-1909-373", "卡号****-****-****-****-***"),
    ("我的卡号6222 0274 6507 5292", "我的卡号**** **** **** ****"),  # Luhn fails, 卡号 says
    # card security codes
    ("安全码是372", "安全码是***"),
    ("背面还有个安全码是三七二，要不要也告诉你？", "背面还有个安全码是***，要不要也告诉你？"),
    ("CVV2：372", "CVV2：***"),
    ("CVV372", "CVV***"),
    ("卡片背面最后三位是 123 吧", "卡片背面最后三位是 *** 吧"),
    # a partial number or a code is not the start of the number said after it
    ("后四位5489，13547280385", "后四位5489，***********"),
    ("验证码是4829，13812345678", "验证码是4829，***********"),
    # several in one turn
    (f"手机号13812345678，身份证后四位是5489，卡号{CARD_OK}，安全码三七二。",
     "手机号***********，身份证后四位是5489，卡号****************，安全码***。"),
])  # fmt: skip
def test_pii_is_masked(text: str, expected: str) -> None:
    assert masked(text) == expected
    assert len(masked(text)) == len(text)


@pytest.mark.parametrize("text", [
    "尾号1234的卡", "您尾号0385的手机", "后四位是5489", "身份证后四位2208",
    "身份证号码后六位是091403", "后六位，020888", "末四位是3158", "验证码是482913",
    "验证码是五零六三八一", "动态码：4829",
    "打95588", "客服电话是95588", "400-820-8820", "热线4008208820", "我要打12378投诉你们",
    "电话是010-12345678",  # landline: not a mobile number
    "六百八十元", "两万五千块", "一千二百元", "2026年11月18日", "2026-11-18", "09:12:40",
    "二零二六年十一月", "工号1023", "工号一零二三", "订单号13812345678",
    f"交易参考号是{CARD_OK}",  # card-shaped and Luhn-valid, but said to be a reference number
    "这笔费用的交易参考号是7866661760313721", CARD_BAD, "6222 0274 6507 5292", ID_BAD,
    "三七二十一", "安全码是三七二十一", "利率3.5%", "百分之零点六", "zhangli1988@qq.com",
    "A13812345678B", "RF20261118-0001", "文三路一百八十八号，锦绣花园三幢二单元五零二",
    "一一一一一一一一一一一", "分三期六期十二期", "372", "有效期是0828",
])  # fmt: skip
def test_not_pii(text: str) -> None:
    assert found(text) == []
    assert masked(text) == text


def test_spans_name_the_number_and_masking_keeps_separators_and_length() -> None:
    text = "哎呀，手机号是+86 158-0841 4852，快点"
    [span] = find_pii([text])
    assert span == PiiSpan(0, 7, 24, "phone", "+86 158-0841 4852")
    assert text[span.start:span.end] == span.text
    assert mask(text, [span]) == "哎呀，手机号是+** ***-**** ****，快点"
    assert count_by_type([span, span]) == {"phone": 2}


def call(*turns: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "text": text} for role, text in turns]


def spans_of(segments: list[dict[str, str]]) -> list[tuple[int, str, str]]:
    return [(s.segment_index, s.type, s.text) for s in find_pii(segments)]


@pytest.mark.parametrize(("segments", "expected"), [
    # a phone number said in two turns, the agent's backchannel in between
    (call(("agent", "麻烦您报一下预留的手机号码。"), ("customer", "哎呀，手机号是158 0841，"),
          ("agent", "嗯，您请说。"), ("customer", "4852。")),
     [(1, "phone", "158 0841"), (3, "phone", "4852")]),
    # a 19-digit card over two turns; the partial ID number after it stays
    (call(("agent", "麻烦您报一下您的卡号和身份证后四位"), ("customer", "卡号是6228 4899 3518，"),
          ("customer", "1909 373，身份证后四位是2208。")),
     [(1, "bank_card", "6228 4899 3518"), (2, "bank_card", "1909 373")]),
    (call(("customer", "卡号是6259 0823，"), ("customer", "嗯，1948 7578。")),
     [(0, "bank_card", "6259 0823"), (1, "bank_card", "1948 7578")]),
    # without a context word the joined digits must be a decisive shape
    (call(("customer", "幺三八幺二"), ("agent", "嗯"), ("customer", "三四五六七八")),
     [(0, "phone", "幺三八幺二"), (2, "phone", "三四五六七八")]),
    # the other speaker's digits are not the rest of the number
    (call(("customer", "卡号是6259 0823，"), ("agent", "1948 7578是吗？")), []),
    # answers to a question in the previous turn
    (call(("agent", "请报一下卡片背面的三位安全码。"), ("customer", "372。")),
     [(1, "cvv", "372")]),
    (call(("agent", "请报一下卡片背面的三位安全码。"),
          ("customer", "稍等我找一下卡啊，好了，是372。")),
     [(1, "cvv", "372")]),
    (call(("agent", "麻烦您报一下完整的身份证号码。"), ("customer", f"{ID_BAD}。")),
     [(1, "id_number", ID_BAD)]),
    (call(("agent", "麻烦您报一下身份证号码的后六位。"), ("customer", "后六位，020888。")), []),
    (call(("agent", "我给您预留手机发了一个六位验证码，麻烦您报一下。"),
          ("customer", "是，七四一零二八。")),
     []),
    (call(("agent", "麻烦您报一下验证码。"), ("customer", "372914。")), []),
    (call(("agent", "请问您的身份证后四位？"), ("customer", "5489。")), []),
    # an earlier label does not hide a full number said later
    (call(("agent", "我给您尾号0385的手机发了验证码，13812345678这个号码对吗？")),
     [(0, "phone", "13812345678")]),
])  # fmt: skip
def test_pii_across_the_turns_of_a_call(
    segments: list[dict[str, str]], expected: list[tuple[int, str, str]]
) -> None:
    assert spans_of(segments) == expected


def test_segments_may_be_strings_mappings_or_objects() -> None:
    result = SegmentResult(role="customer", start_ms=0, end_ms=1, raw_text="", text="13812345678")
    for segments in (["13812345678"], [{"role": "customer", "text": "13812345678"}], [result]):
        assert [s.type for s in find_pii(segments)] == ["phone"]


def test_mask_segments_masks_each_text_with_its_own_spans() -> None:
    texts = ["卡号是6259 0823，", "好的", "嗯，1948 7578。"]
    assert mask_segments(texts, find_pii(texts)) == ["卡号是**** ****，", "好的", "嗯，**** ****。"]


@pytest.mark.skipif(not EVAL_DEV_DIR.is_dir(), reason=f"开发集 {EVAL_DEV_DIR} 不在本机，跳过")
def test_every_labelled_pii_span_of_the_dev_set_is_found() -> None:
    gold_total, missed, extra = 0, [], []
    for path in sorted(EVAL_DEV_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        spans = find_pii(document["segments"])  # segments only, never the labels
        gold = document["labels"]["pii"]
        gold_total += len(gold)
        for g in gold:
            if not any(s.segment_index == g["segment"] and s.type == g["type"]
                       and g["text"] in s.text for s in spans):  # fmt: skip
                missed.append((path.stem, g))
        for s in spans:
            if not any(s.segment_index == g["segment"] and s.type == g["type"]
                       and g["text"] in s.text for g in gold):  # fmt: skip
                extra.append((path.stem, s))
    assert gold_total > 0
    assert missed == [], "recall on dev must be 1.0"
    assert len(extra) <= gold_total * 0.1, extra


# --- Storage --------------------------------------------------------------------------------


def recording(**extra: Any) -> Recording:
    return Recording.objects.create(
        sha256=f"{Recording.objects.count():064d}", size_bytes=1, audio_file="x.mp3",
        status=Recording.Status.TRANSCRIBING, status_changed_at=timezone.now(), **extra,
    )  # fmt: skip


def segment(role: str, text: str, raw_text: str, start_ms: int) -> SegmentResult:
    stamps = tuple((start_ms + 100 * i, start_ms + 100 * i + 90) for i in range(len(raw_text)))
    return SegmentResult(role=role, start_ms=start_ms, end_ms=start_ms + 5000, raw_text=raw_text,
                         text=text, char_timestamps=stamps)  # fmt: skip


RESULT = TranscriptionResult(
    engine="funasr", model_version="test", language="zh", duration_ms=30000,
    segments=[
        segment("agent", "请报一下您的手机号和卡号。", "请报一下您的手机号和卡号", 0),
        segment("customer", "手机号是15805841485，卡号是6259 0823，",
                "手机号是幺五八零五八四幺四八五卡号是六二五九零八二三", 6000),
        segment("agent", "嗯。", "嗯", 11000),
        segment("customer", "1948 7578，尾号7578。", "幺九四八七五七八尾号七五七八", 12000),
    ],
)  # fmt: skip


@pytest.mark.django_db
def test_transcript_store_writes_masked_text_and_raw_text() -> None:
    rec = recording()
    transcript_store(recording_id=rec.id, result=RESULT)
    transcript = Transcript.objects.get(recording=rec)
    assert transcript.pii_masked == {"phone": 1, "bank_card": 2}
    stored = list(transcript.segments.order_by("index"))
    assert [s.text for s in stored] == [
        "请报一下您的手机号和卡号。", "手机号是***********，卡号是**** ****，", "嗯。",
        "**** ****，尾号7578。",
    ]  # fmt: skip
    assert [s.raw_text for s in stored] == [
        "请报一下您的手机号和卡号", "手机号是***********卡号是********", "嗯",
        "********尾号七五七八",
    ]  # fmt: skip
    for row, original in zip(stored, RESULT.segments, strict=True):
        assert len(row.raw_text) == len(original.raw_text) == len(row.char_timestamps)
        assert len(row.text) == len(original.text)
        assert row.char_timestamps == [list(span) for span in original.char_timestamps]


@pytest.mark.django_db
def test_pii_redaction_off_stores_the_text_as_heard(settings: Any) -> None:
    settings.PII_REDACTION = False
    rec = recording()
    transcript_store(recording_id=rec.id, result=RESULT)
    transcript = Transcript.objects.get(recording=rec)
    assert transcript.pii_masked == {}
    assert "15805841485" in transcript.segments.get(index=1).text


@pytest.mark.django_db
def test_an_imported_sidecar_transcript_is_masked_too(data_dir: Path, settings: Any) -> None:
    settings.ASR_ENGINE = "sidecar"
    (data_dir / "calls").mkdir()
    (data_dir / "calls" / "c.json").write_text(json.dumps({
        "schema": "qa-transcript/1",
        "segments": [
            {"role": "agent", "start_ms": 0, "end_ms": 3000,
             "text": "麻烦您报一下完整的身份证号码。"},
            {"role": "customer", "start_ms": 3500, "end_ms": 9000,
             "text": "三三零一零六二零零一零二零八六四五五。"},
        ],
    }, ensure_ascii=False), encoding="utf-8")  # fmt: skip
    rec = recording(sidecar_file="calls/c.json")
    Recording.objects.filter(id=rec.id).update(status=Recording.Status.RECEIVED)
    recording_transcribe(recording_id=rec.id)
    transcript = Transcript.objects.get(recording=rec)
    customer = transcript.segments.get(index=1)
    assert customer.text == "*" * 18 + "。"  # the display text after ITN
    assert customer.raw_text == "*" * 18 + "。"
    assert transcript.pii_masked == {"id_number": 1}


@pytest.mark.parametrize(("phone", "stored"), [
    ("13800138000", "138****8000"),
    ("0755-88886666", "075*-****6666"),
    ("95588", "*5588"),
    ("8000", "8000"),
    ("", ""),
])  # fmt: skip
def test_a_customer_number_is_stored_masked(phone: str, stored: str) -> None:
    from transcription.services.calls import masked_phone

    assert masked_phone(phone) == stored


def test_the_customer_number_is_kept_whole_only_without_redaction(settings: Any) -> None:
    from transcription.asr.base import CallMetadata
    from transcription.services.calls import call_metadata_apply

    recording = Recording(sha256="0" * 64, size_bytes=1, audio_file="x.mp3")
    call_metadata_apply(recording, CallMetadata(customer_phone="13800138000"))
    assert recording.customer_phone == "138****8000"
    settings.PII_REDACTION = False
    call_metadata_apply(recording, CallMetadata(customer_phone="13800138000"))
    assert recording.customer_phone == "13800138000"

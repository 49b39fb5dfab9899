import json
from typing import Any

import pytest

from analytics.rules.metrics import METRIC_TYPES, evaluate_metric, spoken_chars, validate_metric
from analytics.rules.types import Call, Seg
from conftest import EVAL_DEV_DIR

DEV_DIR = EVAL_DEV_DIR

A, C = "agent", "customer"


def call(*turns: tuple[str, int, int, str], layout: str = "stereo", duration: int = 0) -> Call:
    segments = tuple(
        Seg(id=i, role=role, start_ms=start, end_ms=end, text=text)
        for i, (role, start, end, text) in enumerate(turns)
    )
    return Call(segments=segments, channel_layout=layout, duration_ms=duration)


def matched(spec: dict[str, Any], c: Call) -> bool:
    return evaluate_metric(spec, c).matched


def test_metric_types_are_the_documented_set() -> None:
    assert {
        "silence",
        "interruption",
        "speech_rate",
        "duration",
        "talk_ratio",
        "latency",
        "repetition",
    } == METRIC_TYPES


@pytest.mark.parametrize(
    ("text", "chars"),
    [
        ("您好，请问有什么可以帮您？", 11),
        ("工号1023", 6),
        ("OK 好的！", 4),
        ("，。？ ", 0),
        ("", 0),
    ],
)
def test_spoken_chars_exclude_punctuation_and_spaces(text: str, chars: int) -> None:
    assert spoken_chars(text) == chars


# --- silence -----------------------------------------------------------------

SILENCE_CASES = [
    # (description, spec, call, matched)
    ("gap of exactly 10 s is not more than 10 s", {"type": "silence"},
     call((A, 0, 5000, "您好"), (C, 15_000, 16_000, "你好")), False),
    ("gap of 10.001 s is", {"type": "silence"},
     call((A, 0, 5000, "您好"), (C, 15_001, 16_000, "你好")), True),
    ("a long agent turn covers the customer's short turns: no false gap", {"type": "silence"},
     call((A, 0, 30_000, "长篇解释"), (C, 2000, 3000, "嗯"), (C, 25_000, 26_000, "对")), False),
    ("overlapping speech, then a real 11 s gap", {"type": "silence"},
     call((A, 0, 8000, "说明"), (C, 6000, 9000, "插话"), (A, 20_000, 21_000, "好的")), True),
    ("custom threshold", {"type": "silence", "min_ms": 3000},
     call((A, 0, 1000, "您好"), (C, 4500, 5000, "喂")), True),
    ("after customer: the agent was slow to answer", {"type": "silence", "after": "customer"},
     call((A, 0, 1000, "请讲"), (C, 1000, 2000, "查一下"), (A, 14_000, 15_000, "查到了")), True),
    ("after customer ignores a gap after the agent", {"type": "silence", "after": "customer"},
     call((A, 0, 1000, "请稍等"), (C, 14_000, 15_000, "喂？")), False),
    ("leading silence does not count by default", {"type": "silence"},
     call((A, 15_000, 16_000, "您好"), duration=17_000), False),
    ("leading silence counts with include_edges", {"type": "silence", "include_edges": True},
     call((A, 15_000, 16_000, "您好"), duration=17_000), True),
    ("trailing silence counts with include_edges", {"type": "silence", "include_edges": True},
     call((A, 0, 1000, "您好"), duration=12_000), True),
    ("no segments", {"type": "silence"}, call(), False),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "c", "expected"), [c[1:] for c in SILENCE_CASES],
                         ids=[c[0] for c in SILENCE_CASES])  # fmt: skip
def test_silence(spec: dict[str, Any], c: Call, expected: bool) -> None:
    assert matched(spec, c) is expected


def test_silence_evidence_is_the_gap_span_with_a_chinese_note() -> None:
    result = evaluate_metric(
        {"type": "silence"}, call((A, 0, 5000, "请稍等"), (A, 17_300, 18_000, "让您久等了"))
    )
    assert result.matched
    (ev,) = result.evidence
    assert (ev.segment_id, ev.start_ms, ev.end_ms, ev.note) == (None, 5000, 17_300, "静音 12.3 秒")
    assert result.values["max_gap_ms"] == 12_300
    assert result.values["count"] == 1


# --- interruption ------------------------------------------------------------

INTERRUPTION_CASES = [
    ("agent starts inside a customer turn, 1.5 s overlap, 6 chars", {"type": "interruption"},
     call((C, 0, 5000, "我跟你说这个年费"), (A, 3500, 8000, "您听我说一下")), True),
    ("overlap of exactly 1 s is not more than 1 s", {"type": "interruption"},
     call((C, 0, 5000, "我跟你说这个年费"), (A, 4000, 8000, "您听我说一下")), False),
    ("back-channel under 4 characters (punctuation not counted)", {"type": "interruption"},
     call((C, 0, 5000, "我跟你说这个年费"), (A, 1000, 4000, "嗯，对对。")), False),
    ("exactly 4 characters is enough", {"type": "interruption"},
     call((C, 0, 5000, "我跟你说这个年费"), (A, 1000, 4000, "您听我说")), True),
    ("overlap counted only until the customer stops", {"type": "interruption"},
     call((C, 0, 5000, "我跟你说这个年费"), (A, 4200, 9000, "您听我说一下好吗")), False),
    ("starting together is not interrupting", {"type": "interruption"},
     call((C, 1000, 5000, "我跟你说这个年费"), (A, 1000, 6000, "您听我说一下")), False),
    ("the customer interrupting is not an agent interruption", {"type": "interruption"},
     call((A, 0, 5000, "这个年费是这样的"), (C, 2000, 6000, "你别说了我不听")), False),
    ("... unless role is customer", {"type": "interruption", "role": "customer"},
     call((A, 0, 5000, "这个年费是这样的"), (C, 2000, 6000, "你别说了我不听")), True),
    ("a long earlier customer turn still in progress counts", {"type": "interruption"},
     call((C, 0, 20_000, "长长的抱怨"), (C, 1000, 2000, "嗯"), (A, 10_000, 12_000, "您先别急")),
     True),
    ("min_overlap_ms configurable", {"type": "interruption", "min_overlap_ms": 500},
     call((C, 0, 5000, "我跟你说这个年费"), (A, 4300, 8000, "您听我说一下")), True),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "c", "expected"), [c[1:] for c in INTERRUPTION_CASES],
                         ids=[c[0] for c in INTERRUPTION_CASES])  # fmt: skip
def test_interruption(spec: dict[str, Any], c: Call, expected: bool) -> None:
    assert matched(spec, c) is expected


def test_interruption_evidence_names_the_agent_segment() -> None:
    result = evaluate_metric(
        {"type": "interruption"},
        call((C, 0, 5000, "我跟你说这个年费"), (A, 3500, 8000, "您听我说一下")),
    )
    (ev,) = result.evidence
    assert (ev.segment_id, ev.start_ms, ev.end_ms) == (1, 3500, 5000)
    assert ev.note == "坐席在客户讲话时插话，重叠 1.5 秒"
    assert result.values == {"applicable": 1.0, "count": 1.0, "max_overlap_ms": 1500.0}


def test_interruption_does_not_apply_to_mono_calls() -> None:
    mono = call((C, 0, 5000, "我跟你说这个年费"), (A, 3000, 8000, "您听我说一下"), layout="mono")
    result = evaluate_metric({"type": "interruption"}, mono)
    assert not result.matched
    assert result.values == {"applicable": 0.0}
    assert result.evidence == ()


# --- speech rate -------------------------------------------------------------

FIFTY = "一二三四五六七八九十" * 5  # 50 characters

SPEECH_RATE_CASES = [
    ("exactly 300 cpm is not over 300", {"type": "speech_rate"},
     call((A, 0, 10_000, FIFTY)), False),
    ("306 cpm is", {"type": "speech_rate"}, call((A, 0, 10_000, FIFTY + "多")), True),
    ("punctuation is not counted", {"type": "speech_rate"},
     call((A, 0, 10_000, FIFTY + "，。？！")), False),
    ("average over summed segment time, not call time", {"type": "speech_rate"},
     call((A, 0, 5000, FIFTY[:26]), (C, 5000, 60_000, "嗯"), (A, 60_000, 65_000, FIFTY[:26])),
     True),
    ("customer speech does not count for the agent", {"type": "speech_rate"},
     call((A, 0, 10_000, FIFTY[:10]), (C, 10_000, 11_000, FIFTY)), False),
    ("role customer", {"type": "speech_rate", "role": "customer"},
     call((A, 0, 10_000, FIFTY[:10]), (C, 10_000, 11_000, FIFTY)), True),
    ("per sentence: one fast sentence among slow ones", {"type": "speech_rate", "per": "sentence"},
     call((A, 0, 4000, FIFTY[:25]), (A, 5000, 65_000, FIFTY)), True),
    ("per sentence ignores segments shorter than min_segment_ms",
     {"type": "speech_rate", "per": "sentence"}, call((A, 0, 1000, FIFTY[:10])), False),
    ("max_cpm configurable", {"type": "speech_rate", "max_cpm": 250},
     call((A, 0, 10_000, FIFTY[:45])), True),
    ("no agent speech", {"type": "speech_rate"}, call((C, 0, 1000, "你好")), False),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "c", "expected"), [c[1:] for c in SPEECH_RATE_CASES],
                         ids=[c[0] for c in SPEECH_RATE_CASES])  # fmt: skip
def test_speech_rate(spec: dict[str, Any], c: Call, expected: bool) -> None:
    assert matched(spec, c) is expected


def test_speech_rate_values_and_evidence() -> None:
    result = evaluate_metric({"type": "speech_rate"}, call((A, 0, 10_000, FIFTY + "多")))
    assert result.values["rate_cpm"] == 306.0
    assert result.evidence[0].note == "坐席平均语速 306 字/分钟（上限 300）"


# --- duration, talk ratio, latency ------------------------------------------

SHORT = call((A, 0, 20_000, "您好"), (C, 20_000, 30_000, "嗯"), duration=45_000)
# Latencies 6 s and 0.5 s: max 6 s, mean 3.25 s.
QA = call((C, 0, 1000, "问"), (A, 7000, 8000, "答"), (C, 8000, 9000, "问"), (A, 9500, 10_000, "答"))

OTHER_CASES = [
    ("call shorter than min_s", {"type": "duration", "min_s": 60}, SHORT, True),
    ("call within bounds", {"type": "duration", "min_s": 30, "max_s": 600}, SHORT, False),
    ("call longer than max_s", {"type": "duration", "max_s": 40}, SHORT, True),
    ("match inside", {"type": "duration", "min_s": 30, "max_s": 60, "match": "inside"},
     SHORT, True),
    ("no duration_ms: last segment end", {"type": "duration", "max_s": 25},
     call((A, 0, 30_000, "您好")), True),
    ("agent share 2/3 above max 0.6", {"type": "talk_ratio", "max": 0.6}, SHORT, True),
    ("agent share within", {"type": "talk_ratio", "min": 0.5, "max": 0.7}, SHORT, False),
    ("customer share 1/3 below min 0.4", {"type": "talk_ratio", "role": "customer", "min": 0.4},
     SHORT, True),
    ("overlapping same-role segments are not counted twice", {"type": "talk_ratio", "max": 0.5},
     call((A, 0, 10_000, "一"), (A, 0, 10_000, "一"), (C, 10_000, 20_000, "二")), False),
    ("latency max over the limit", {"type": "latency", "max_ms": 5000}, QA, True),
    ("latency mean under the limit", {"type": "latency", "max_ms": 5000, "stat": "mean"}, QA,
     False),
    ("latency from the end of the whole customer turn", {"type": "latency", "max_ms": 3000},
     call((C, 0, 1000, "问"), (C, 1000, 6000, "还有"), (A, 8000, 9000, "答")), False),
    ("agent answering before the customer ends is latency 0", {"type": "latency", "max_ms": 0},
     call((C, 0, 5000, "问"), (A, 4000, 9000, "答")), False),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "c", "expected"), [c[1:] for c in OTHER_CASES],
                         ids=[c[0] for c in OTHER_CASES])  # fmt: skip
def test_duration_talk_ratio_latency(spec: dict[str, Any], c: Call, expected: bool) -> None:
    assert matched(spec, c) is expected


def test_notes_for_duration_ratio_latency() -> None:
    assert evaluate_metric({"type": "duration", "min_s": 60}, SHORT).evidence[0].note == (
        "通话时长 45.0 秒（短于 60 秒）"
    )
    ratio = evaluate_metric({"type": "talk_ratio", "max": 0.6}, SHORT)
    assert ratio.evidence[0].note == "坐席说话时长占比 67%（高于 60%）"
    assert ratio.values["share"] == pytest.approx(2 / 3, abs=1e-4)
    slow = evaluate_metric(
        {"type": "latency"}, call((C, 0, 1000, "在吗"), (A, 9200, 10_000, "在的"))
    )
    assert slow.evidence[0].note == "客户说完后坐席 8.2 秒才回应"
    assert (slow.evidence[0].start_ms, slow.evidence[0].end_ms) == (1000, 9200)


# --- repetition --------------------------------------------------------------


def _asks(*texts: str) -> Call:
    turns: list[tuple[str, int, int, str]] = []
    for i, text in enumerate(texts):
        turns += [
            (C, i * 10_000, i * 10_000 + 3000, text),
            (A, i * 10_000 + 4000, i * 10_000 + 8000, "您稍等"),
        ]
    return call(*turns)


CHECK_THRICE = _asks("帮我查一下这笔扣款", "你帮我查一下这笔扣款啊", "麻烦帮我查一下这笔扣款")
REFUND_THRICE = _asks(
    "我要退这个年费", "嗯", "你就告诉我这个年费能不能退", "好的", "这个年费到底能不能退"
)

REPETITION_CASES = [
    ("the same request three times", {"type": "repetition"}, CHECK_THRICE, True),
    ("only twice", {"type": "repetition"},
     _asks("帮我查一下这笔扣款", "你帮我查一下这笔扣款啊", "那我等通知吧"), False),
    # Bigram Jaccard 0.6 means near-verbatim; these paraphrases score 0.2-0.4.
    ("paraphrases need a lower similarity", {"type": "repetition"}, REFUND_THRICE, False),
    ("... which is configurable", {"type": "repetition", "similarity": 0.2}, REFUND_THRICE, True),
    ("difflib ratio as the similarity", {"type": "repetition", "method": "difflib"},
     _asks("我要退年费", "我要退年费啊", "我说了我要退年费"), True),
    ("back-channels are too short to count", {"type": "repetition"}, _asks("好的", "好的", "好的"),
     False),
    ("times configurable", {"type": "repetition", "times": 4},
     _asks("我要退年费", "我要退年费啊", "我说了我要退年费"), False),
    ("lookback limits how far back a turn is compared", {"type": "repetition", "lookback": 2},
     _asks("帮我查一下这笔扣款", "好的谢谢你", "我再问一下额度", "你帮我查一下这笔扣款啊",
           "麻烦帮我查一下这笔扣款"), False),
    ("agent repeats do not count for the customer", {"type": "repetition"},
     call((A, 0, 1, "请问还有什么可以帮您"), (A, 2, 3, "请问还有什么可以帮您"),
          (A, 4, 5, "请问还有什么可以帮您")), False),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "c", "expected"), [c[1:] for c in REPETITION_CASES],
                         ids=[c[0] for c in REPETITION_CASES])  # fmt: skip
def test_repetition(spec: dict[str, Any], c: Call, expected: bool) -> None:
    assert matched(spec, c) is expected


def test_repetition_evidence_lists_every_repeat() -> None:
    result = evaluate_metric({"type": "repetition"}, CHECK_THRICE)
    assert [e.segment_id for e in result.evidence] == [0, 2, 4]
    assert result.evidence[-1].note == "客户第 3 次提出相同诉求"
    assert result.values["max_repeats"] == 3


# --- validation --------------------------------------------------------------

BAD_SPECS = [
    ({"min_ms": 1000}, "缺少算子类型"),
    ({"type": "loudness"}, "未知的算子类型「loudness」"),
    ({"type": "silence", "min_ms": -1}, "min_ms 不能为负数"),
    ({"type": "silence", "min_ms": "10s"}, "min_ms 必须是数字"),
    ({"type": "silence", "min_ms": True}, "min_ms 必须是数字"),
    ({"type": "silence", "after": "agent_or_customer"}, "after 必须是"),
    ({"type": "silence", "minms": 1000}, "不支持参数「minms」"),
    ({"type": "interruption", "role": "boss"}, "role 必须是"),
    ({"type": "interruption", "min_chars": 2.5}, "min_chars 必须是不小于 0 的整数"),
    ({"type": "speech_rate", "max_cpm": 0}, "max_cpm 必须大于 0"),
    ({"type": "speech_rate", "per": "call"}, "per 必须是"),
    ({"type": "duration"}, "至少需要 min_s 或 max_s"),
    ({"type": "duration", "min_s": 60, "max_s": 30}, "min_s 不能大于 max_s"),
    ({"type": "talk_ratio", "max": 70}, "max 必须在 0 到 1 之间"),
    ({"type": "talk_ratio", "role": "any", "max": 0.7}, "role 必须是"),
    ({"type": "latency", "stat": "median"}, "stat 必须是"),
    ({"type": "repetition", "times": 1}, "times 必须是不小于 2 的整数"),
    ({"type": "repetition", "similarity": 1.5}, "similarity 必须在 0 到 1 之间"),
    ({"type": "repetition", "window": {"last_s": 60}}, "不支持参数「window」"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_validate_reports_bad_specs_in_chinese(spec: dict[str, Any], message: str) -> None:
    errors = validate_metric(spec)
    assert any(message in e for e in errors), errors
    with pytest.raises(ValueError, match=message.split("「")[0]):
        evaluate_metric(spec, call((A, 0, 1000, "您好")))


@pytest.mark.parametrize(
    "spec",
    [{"type": t} for t in sorted(METRIC_TYPES - {"duration", "talk_ratio"})]
    + [
        {"type": "duration", "max_s": 600},
        {"type": "talk_ratio", "role": "customer", "min": 0.1, "max": 0.9},
        {"type": "silence", "min_ms": 5000, "after": "customer", "id": 3, "name": "应答慢"},
        {"type": "repetition", "times": 2, "similarity": 0.5, "min_chars": 6, "method": "difflib"},
    ],
)
def test_valid_specs_have_no_errors_and_evaluate(spec: dict[str, Any]) -> None:
    assert validate_metric(spec) == []
    evaluate_metric(spec, call((C, 0, 1000, "你好"), (A, 2000, 3000, "您好")))


def test_a_non_object_spec_is_an_error() -> None:
    assert validate_metric(["silence"]) == ["算子定义必须是 JSON 对象"]  # type: ignore[arg-type]


# --- the dev set's timing labels ----------------------------------------------


def _dev_calls() -> list[tuple[str, Call, dict[str, Any]]]:
    if not DEV_DIR.is_dir() or not any(DEV_DIR.glob("*.json")):
        pytest.skip(f"labelled dev calls not found at {DEV_DIR} (set QA_EVAL_DEV_DIR)")
    calls = []
    for path in sorted(DEV_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        c = call(
            *((s["role"], s["start_ms"], s["end_ms"], s["text"]) for s in data["segments"]),
            layout=data["channel_layout"],
            duration=data["duration_ms"],
        )
        calls.append((data["call_id"], c, data["labels"]))
    return calls


def test_timing_operators_reproduce_every_dev_label_exactly() -> None:
    mismatches = []
    for call_id, c, labels in _dev_calls():
        interruption = evaluate_metric({"type": "interruption"}, c)
        predicted = {
            "long_silence": evaluate_metric({"type": "silence", "min_ms": 10_000}, c).matched,
            "agent_interruption": interruption.matched
            if interruption.values["applicable"]
            else None,
            "agent_fast_speech": evaluate_metric(
                {"type": "speech_rate", "max_cpm": 300}, c
            ).matched,
        }
        mismatches += [
            f"{call_id} {key}: gold {labels[key]} predicted {value}"
            for key, value in predicted.items()
            if labels[key] != value
        ]
    assert mismatches == []

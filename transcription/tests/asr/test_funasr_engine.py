"""FunasrEngine against the real FSMN-VAD and a tiny, randomly initialised Paraformer.

The engine is loaded once per module. Text content is gibberish by design; the
tests check channels → roles, segment times, batching, hotword handling, OOM
fallback and that nothing ever tries to download a model.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transcription.asr.base import ROLE_AGENT, ROLE_CUSTOMER, ROLE_UNKNOWN, TranscriptionError
from transcription.asr.base import TranscriptionRequest as Request
from transcription.asr.funasr_engine import (
    FunasrConfig,
    FunasrEngine,
    model_version,
    normalize_text,
    plan_batches,
    resolve_device,
    split_span,
)
from transcription.asr.funasr_models import ModelTraits, model_kwargs, model_traits
from transcription.asr.model_output import char_timestamps, timestamp_units
from transcription.tests.asr.conftest import require_espeak, vad_model_dir
from transcription.tests.asr.test_audio import (
    AGENT_SPAN,
    CUSTOMER_SPAN,
    encode,
    make_call_recording,
    voiced_burst,
    write_stereo,
)

# VAD pads speech starts by ~300 ms and ends by ~200 ms; allow for codec smear too.
TOLERANCE_MS = 600


@pytest.fixture(scope="module")
def engine(tiny_dir: Path, offline: list[str]) -> FunasrEngine:
    return FunasrEngine(FunasrConfig(model_dir=str(tiny_dir), vad_dir=str(vad_model_dir())))


@pytest.fixture(scope="module")
def call_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_call_recording(tmp_path_factory.mktemp("calls") / "call.mp3")


def _spy_generate(
    monkeypatch: pytest.MonkeyPatch, engine: FunasrEngine, fail: Any = None
) -> list[dict[str, Any]]:
    """Record every ASR generate() call; ``fail(inputs)`` may return an exception to raise."""
    calls: list[dict[str, Any]] = []
    real = engine.asr_model.generate

    def spy(input: list[np.ndarray], **kwargs: Any) -> Any:
        calls.append({"n": len(input), **kwargs})
        error = fail(input) if fail else None
        if error is not None:
            raise error
        return real(input=input, **kwargs)

    monkeypatch.setattr(engine.asr_model, "generate", spy)
    return calls


def _assert_within(segments: list[Any], span: tuple[float, float]) -> None:
    lo, hi = span[0] * 1000, span[1] * 1000
    assert segments, "expected speech segments on this channel"
    assert min(s.start_ms for s in segments) == pytest.approx(lo, abs=TOLERANCE_MS)
    assert max(s.end_ms for s in segments) == pytest.approx(hi, abs=TOLERANCE_MS)
    for s in segments:
        assert lo - TOLERANCE_MS <= s.start_ms < s.end_ms <= hi + TOLERANCE_MS


def test_transcribes_stereo_call_per_channel(engine: FunasrEngine, call_path: Path) -> None:
    result = engine.transcribe(Request(audio_path=call_path, language="zh"))

    assert result.engine == "funasr"
    assert result.model_version.startswith("tiny-paraformer@")
    assert result.language == "zh"
    assert result.duration_ms == pytest.approx(8000, abs=50)
    assert set(result.timings) == {"decode", "vad", "asr", "punc"}
    agent = [s for s in result.segments if s.role == ROLE_AGENT]
    customer = [s for s in result.segments if s.role == ROLE_CUSTOMER]
    assert len(agent) + len(customer) == len(result.segments)
    _assert_within(agent, AGENT_SPAN)
    _assert_within(customer, CUSTOMER_SPAN)
    assert result.segments == sorted(result.segments, key=lambda s: (s.start_ms, s.role))
    for s in result.segments:
        # Gibberish, but real characters from the tiny vocabulary, without CJK spacing.
        assert s.text and s.raw_text == s.text and " " not in s.text
        assert (s.emotion, s.language) == ("", "")
        # Paraformer's token timestamps, made absolute: one span per character, in order.
        assert len(s.char_timestamps) == len(s.raw_text)
        starts = [a for a, _ in s.char_timestamps]
        assert starts == sorted(starts)
        assert all(s.start_ms <= a <= b <= s.end_ms for a, b in s.char_timestamps)


def test_long_speech_is_split_and_batched(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "config", dataclasses.replace(engine.config, max_segment_ms=700))
    calls = _spy_generate(monkeypatch, engine)
    result = engine.transcribe(Request(audio_path=call_path))
    assert all(s.end_ms - s.start_ms <= 700 for s in result.segments)
    assert len([s for s in result.segments if s.role == ROLE_AGENT]) >= 3
    # Six-plus short segments fit one 300 s batch: a single batched generate() call.
    assert [c["n"] for c in calls] == [len(result.segments)]
    assert calls[0]["batch_size"] == len(result.segments)
    assert calls[0]["output_timestamp"] is True


def test_hotwords_are_reported_ignored_for_plain_paraformer(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_generate(monkeypatch, engine)
    result = engine.transcribe(Request(audio_path=call_path, hotwords=("退款", "账单")))
    assert engine.model_class == "Paraformer"
    assert result.ignored_hotwords == ("退款", "账单")
    assert all("hotword" not in c and "hotwords" not in c for c in calls)


@pytest.mark.parametrize(
    ("kwarg", "expected"),
    [("hotword", {"hotword": "退款 账单"}), ("hotwords", {"hotwords": ["退款", "账单"]})],
)
def test_hotwords_passed_to_models_that_support_them(
    engine: FunasrEngine,
    call_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kwarg: str,
    expected: dict[str, Any],
) -> None:
    # Pretend to be SeACo-Paraformer ("hotword") or Fun-ASR-Nano ("hotwords").
    monkeypatch.setattr(engine, "hotword_kwarg", kwarg)
    calls = _spy_generate(monkeypatch, engine)
    words = ("退款", " ", "账单", "http://evil/x", "list.txt")
    result = engine.transcribe(Request(audio_path=call_path, hotwords=words))
    assert result.ignored_hotwords == ("http://evil/x", "list.txt")
    assert calls and all(c[kwarg] == expected[kwarg] for c in calls)


def test_fun_asr_nano_gets_hotword_list_itn_and_language(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No tiny Fun-ASR-Nano (an LLM); the tiny Paraformer stands in and ignores the keywords.
    traits = model_traits("FunASRNano")
    for name in ("family", "hotword_kwarg", "native_punctuation"):
        monkeypatch.setattr(engine, name, getattr(traits, name))
    monkeypatch.setattr(engine, "punc_model", None)
    calls = _spy_generate(monkeypatch, engine)
    result = engine.transcribe(Request(audio_path=call_path, hotwords=("退款", "账单")))
    assert calls and result.ignored_hotwords == ()
    for c in calls:
        assert (c["hotwords"], c["itn"], c["language"]) == (["退款", "账单"], True, "中文")
        assert "output_timestamp" not in c and "hotword" not in c


def test_model_traits_and_kwargs_per_family() -> None:
    nano = model_traits("FunASRNano")
    assert nano == ModelTraits("FunASRNano", "hotwords", native_punctuation=True)
    # A registry alias is recognised by the class config.yaml names.
    assert model_traits("NanoAlias", "FunASRNano") == nano
    assert model_traits("SeacoParaformer").hotword_kwarg == "hotword"
    assert not model_traits("SenseVoiceSmall").hotword_kwarg
    assert model_kwargs("FunASRNano", "en-US") == {"itn": True, "language": "英文"}
    assert model_kwargs("FunASRNano", "auto") == {"itn": True}
    assert model_kwargs("Paraformer", "zh") == {"output_timestamp": True}
    assert model_kwargs("BiCifParaformer", "zh") == {}


@pytest.mark.parametrize(
    ("result", "text", "expected"),
    [
        # Paraformer: one [start, end] per space-separated token; latin words spread out.
        (
            {
                "text": "我 用 iphone 打",
                "timestamp": [[0, 100], [100, 200], [200, 800], [800, 900]],
            },
            "我用 iphone 打",
            [(0, 100), (100, 200), (200, 200)]
            + [(200 + 100 * i, 300 + 100 * i) for i in range(6)]
            + [(800, 800), (800, 900)],
        ),
        # Fun-ASR-Nano: seconds with tokens; punctuation the tokens lack gets zero width.
        (
            {
                "text": "好，的",
                "timestamps": [
                    {"token": "好", "start_time": 0.1, "end_time": 0.2},
                    {"token": "的", "start_time": 0.3, "end_time": 0.5},
                ],
            },
            "好，的",
            [(100, 200), (200, 200), (300, 500)],
        ),
        # SenseVoice words (tags skipped); mismatching tokens give no timestamps at all.
        ({"timestamp": [[0, 50], [60, 90]], "words": ["<|zh|>", "嗯"]}, "嗯", [(60, 90)]),
        ({"text": "您 好", "timestamp": [[0, 100], [100, 200]]}, "你好", []),
        ({"text": "您 好", "timestamp": [[0, 100]]}, "您好", []),
        ({"text": "您好"}, "您好", []),
    ],
)
def test_char_timestamps_from_model_results(
    result: dict[str, Any], text: str, expected: list[tuple[int, int]]
) -> None:
    units, spans = timestamp_units(result)
    stamps = char_timestamps(text, units, spans, offset_ms=1000)
    assert list(stamps) == [(a + 1000, b + 1000) for a, b in expected]


def test_sixty_one_minute_vad_result_is_sliced_and_batched_without_copies(
    engine: FunasrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real 61-minute run (VAD + tiny model) costs ~30 s of CPU, too slow for the
    # suite; the slicing and batching plan is checked on a synthetic VAD result instead.
    minutes, rate = 61, 16000
    channel = np.zeros(minutes * 60 * rate, dtype=np.float32)  # calloc: no pages touched
    rng = np.random.default_rng(3)
    spans, t = [], 0
    while t < minutes * 60_000 - 40_000:
        start = t + int(rng.integers(200, 3000))
        t = start + int(rng.integers(300, 40_000))
        spans.append([start, t])
    spans.append([t + 500, -1])  # still open at the end of the file

    class StubVad:
        def generate(self, input: np.ndarray, **kwargs: Any) -> list[dict[str, Any]]:
            return [{"key": "k", "value": spans}]

    monkeypatch.setattr(engine, "vad_model", StubVad())
    pieces = engine._vad_segments(channel, ROLE_AGENT)
    assert pieces[-1].end_ms == minutes * 60_000
    assert all(p.end_ms - p.start_ms <= engine.config.max_segment_ms for p in pieces)
    assert all(p.samples.base is channel for p in pieces), "segments must be views"

    seen: list[int] = []

    class StubAsr:
        def generate(self, input: list[np.ndarray], **kwargs: Any) -> list[dict[str, Any]]:
            assert all(a.base is channel for a in input)
            assert max(a.size for a in input) * len(input) <= 300 * rate or len(input) == 1
            seen.extend(id(a) for a in input)
            return [{"text": "好"} for _ in input]

    monkeypatch.setattr(engine, "asr_model", StubAsr())
    results = engine._recognise([p.samples for p in pieces], {})
    assert len(results) == len(pieces) == len(seen) == len(set(seen))


def test_extra_channels_get_unknown_role(engine: FunasrEngine, call_path: Path) -> None:
    result = engine.transcribe(Request(audio_path=call_path, channel_roles=(ROLE_AGENT,)))
    assert {s.role for s in result.segments} == {ROLE_AGENT, ROLE_UNKNOWN}
    _assert_within([s for s in result.segments if s.role == ROLE_UNKNOWN], CUSTOMER_SPAN)


def test_mono_uses_role_of_channel_zero(engine: FunasrEngine, tmp_path: Path) -> None:

    path = tmp_path / "mono.wav"
    burst = np.zeros(4 * 8000, dtype=np.float32)
    burst[8000:24000] = voiced_burst(2.0, seed=5)
    encode(path, burst, codec=["pcm_mulaw"])
    result = engine.transcribe(Request(audio_path=path, channel_roles=(ROLE_UNKNOWN,)))
    assert result.segments and {s.role for s in result.segments} == {ROLE_UNKNOWN}


def test_silent_channels_give_no_segments(engine: FunasrEngine, tmp_path: Path) -> None:
    quiet = np.zeros(3 * 8000, dtype=np.float32)
    path = write_stereo(tmp_path / "silence.wav", quiet, quiet)
    result = engine.transcribe(Request(audio_path=path))
    assert result.segments == []
    assert result.duration_ms == pytest.approx(3000, abs=10)


def test_non_audio_input_raises(engine: FunasrEngine, tmp_path: Path) -> None:
    path = tmp_path / "call.mp3"
    path.write_text("not audio", encoding="utf-8")
    with pytest.raises(TranscriptionError, match="无法解码音频"):
        engine.transcribe(Request(audio_path=path))


def test_cuda_oom_halves_batches_then_gives_up(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(engine, "config", dataclasses.replace(engine.config, max_segment_ms=700))
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    calls = _spy_generate(monkeypatch, engine, fail=lambda xs: oom if len(xs) > 2 else None)
    result = engine.transcribe(Request(audio_path=call_path))
    failed = [c["n"] for c in calls if c["n"] > 2]
    succeeded = [c["n"] for c in calls if c["n"] <= 2]
    # Retries shrink the batches until they fit; every segment is still transcribed.
    assert failed and failed == sorted(failed, reverse=True)
    assert sum(succeeded) == len(result.segments) >= 6

    _spy_generate(monkeypatch, engine, fail=lambda xs: oom)
    with pytest.raises(TranscriptionError, match=r"^显存不足"):
        engine.transcribe(Request(audio_path=call_path))


def test_failed_batch_falls_back_to_single_items(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "config", dataclasses.replace(engine.config, max_segment_ms=700))
    # funasr's CIF raises IndexError when the last batch member fires no token.
    calls = _spy_generate(
        monkeypatch,
        engine,
        fail=lambda xs: IndexError("index out of bounds") if len(xs) > 1 else None,
    )
    result = engine.transcribe(Request(audio_path=call_path))
    assert calls[0]["n"] > 1
    assert [c["n"] for c in calls[1:]] == [1] * len(result.segments)


def test_punctuation_model_fills_text(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakePunc:
        def generate(self, input: str, **kwargs: Any) -> list[dict[str, Any]]:
            return [{"key": "k", "text": " ".join(input) + "。"}]

    monkeypatch.setattr(engine, "punc_model", FakePunc())
    result = engine.transcribe(Request(audio_path=call_path))
    assert result.segments
    for s in result.segments:
        assert s.text == s.raw_text + "。"


def test_missing_model_dir_is_refused_without_download(
    offline: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import funasr

    built: list[Any] = []
    monkeypatch.setattr(funasr, "AutoModel", lambda **kw: built.append(kw))
    missing = tmp_path / "models" / "paraformer-zh"
    with pytest.raises(TranscriptionError, match=re.escape(str(missing))):
        FunasrEngine(FunasrConfig(model_dir=str(missing), vad_dir=str(vad_model_dir())))
    with pytest.raises(TranscriptionError, match="VAD"):
        FunasrEngine(FunasrConfig(model_dir=str(vad_model_dir()), vad_dir="fsmn-vad"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TranscriptionError, match=r"config\.yaml"):
        FunasrEngine(
            FunasrConfig(
                model_dir=str(vad_model_dir()), vad_dir=str(vad_model_dir()), punc_dir=str(empty)
            )
        )
    assert built == [] and offline == []


def test_loading_leaves_root_logging_alone(tiny_dir: Path) -> None:
    import logging

    root = logging.getLogger()
    level, saved = root.level, list(root.handlers)
    # basicConfig() only acts on a handler-less root, so take pytest's handlers away.
    for handler in saved:
        root.removeHandler(handler)
    try:
        # funasr's AutoModel calls logging.basicConfig(); the engine must undo it.
        FunasrEngine(FunasrConfig(model_dir=str(tiny_dir), vad_dir=str(vad_model_dir())))
        assert (root.level, root.handlers) == (level, [])
    finally:
        for handler in saved:
            root.addHandler(handler)


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")

    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device() == "cuda"


def test_model_version_prefers_configuration_json(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("model: Paraformer\n", encoding="utf-8")
    plain = model_version(tmp_path)
    assert plain.startswith(f"{tmp_path.name}@") and len(plain.split("@")[1]) == 8
    hub = {"model_name_in_hub": {"ms": "iic/speech_paraformer-large"}, "version": "v2.0.4"}
    (tmp_path / "configuration.json").write_text(json.dumps(hub), encoding="utf-8")
    assert model_version(tmp_path) == "iic/speech_paraformer-large@v2.0.4"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("你 好 ， 请 问", "你好，请问"),
        ("我 用 iPhone 15 pro 打 的", "我用 iPhone 15 pro 打的"),
        ("<|zh|><|NEUTRAL|>好 的  ok", "好的 ok"),
        ("   ", ""),
    ],
)
def test_normalize_text(raw: str, clean: str) -> None:
    assert normalize_text(raw) == clean


def test_split_and_plan_helpers() -> None:
    assert split_span(0, 25_000, 30_000) == [(0, 25_000)]
    assert split_span(1_000, 71_000, 30_000) == [
        (1_000, 24_333),
        (24_333, 47_667),
        (47_667, 71_000),
    ]
    batches = plan_batches([500, 3_000, 1_000, 2_000], budget_ms=4_000)
    assert batches == [[0, 2], [3], [1]]
    assert plan_batches([10_000], budget_ms=1) == [[0]]


def test_espeak_speech_is_found_on_the_right_channels(engine: FunasrEngine, tmp_path: Path) -> None:
    require_espeak()  # skips without espeak-ng, fails in CI
    path = make_call_recording(tmp_path / "espeak.wav", espeak=True)
    result = engine.transcribe(Request(audio_path=path))
    _assert_within([s for s in result.segments if s.role == ROLE_AGENT], AGENT_SPAN)
    _assert_within([s for s in result.segments if s.role == ROLE_CUSTOMER], CUSTOMER_SPAN)

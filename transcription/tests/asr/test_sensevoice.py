"""SenseVoiceSmall: rich-tag parsing, and the engine driving a tiny, random SenseVoice.

The parsing tests use output strings in the format the real SenseVoiceSmall
emits, and the same strings passed through funasr's own
``rich_transcription_postprocess`` (emoji instead of tags). The engine tests load
a tiny SenseVoiceSmall (see tiny_model.py) whose only possible tags are
<|en|>, <|HAPPY|>, <|Speech|> and <|withitn|>, so the parsed emotion and language
are known even though the words are random.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transcription.asr.base import TranscriptionRequest as Request
from transcription.asr.funasr_engine import FunasrConfig, FunasrEngine
from transcription.asr.funasr_models import model_kwargs
from transcription.asr.model_output import RichText, parse_rich_text
from transcription.tests.asr.conftest import vad_model_dir
from transcription.tests.asr.test_audio import make_call_recording

# (SenseVoiceSmall output, expected parse): the shapes the real model produces.
RECORDED = [
    (
        "<|zh|><|NEUTRAL|><|Speech|><|withitn|>您好，请问有什么可以帮您？",
        RichText("您好，请问有什么可以帮您？", "neutral", "zh"),
    ),
    (
        "<|zh|><|ANGRY|><|Speech|><|withitn|>你们这个服务太差了！",
        RichText("你们这个服务太差了！", "angry", "zh"),
    ),
    (
        "<|en|><|HAPPY|><|Speech|><|withitn|>Thank you so much.",
        RichText("Thank you so much.", "happy", "en"),
    ),
    ("<|zh|><|SURPRISED|><|BGM|><|withitn|>真的吗？", RichText("真的吗？", "surprised", "zh")),
    ("<|yue|><|SAD|><|Laughter|><|withitn|>唔該晒。", RichText("唔該晒。", "sad", "yue")),
    ("<|ja|><|FEARFUL|><|Speech|><|withitn|>こわい。", RichText("こわい。", "fearful", "ja")),
    ("<|ko|><|DISGUSTED|><|Speech|><|withitn|>싫어요.", RichText("싫어요.", "disgusted", "ko")),
    ("<|zh|><|EMO_UNKNOWN|><|Speech|><|woitn|>嗯", RichText("嗯", "", "zh")),
    ("<|nospeech|><|EMO_UNKNOWN|><|Event_UNK|><|woitn|>", RichText("", "", "")),
    (
        # Two decoded chunks glued together: the first tags win, all are removed.
        "<|zh|><|HAPPY|><|Speech|><|withitn|>好的。<|en|><|NEUTRAL|><|Speech|><|withitn|>OK.",
        RichText("好的。OK.", "happy", "zh"),
    ),
    ("no tags at all", RichText("no tags at all", "", "")),
]


@pytest.mark.parametrize(("raw", "expected"), RECORDED)
def test_parse_recorded_sensevoice_output(raw: str, expected: RichText) -> None:
    assert parse_rich_text(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), RECORDED)
def test_parse_after_funasr_rich_postprocess(raw: str, expected: RichText) -> None:
    postprocess = pytest.importorskip("funasr.utils.postprocess_utils")
    rich = postprocess.rich_transcription_postprocess(raw)
    parsed = parse_rich_text(rich)
    # Emoji carry the emotion (neutral has none); events are dropped; language is lost.
    assert parsed.text == expected.text
    assert parsed.emotion == ("" if expected.emotion == "neutral" else expected.emotion)
    assert parsed.language == ""


@pytest.mark.parametrize(
    ("language", "sent"),
    [("zh", "zh"), ("", "auto"), ("auto", "auto"), ("yue", "yue"), ("zh-CN", "zh"), ("fr", "auto")],
)
def test_language_hint_for_sensevoice(language: str, sent: str) -> None:
    assert model_kwargs("SenseVoiceSmall", language) == {"language": sent, "use_itn": True}


@pytest.fixture(scope="module")
def engine(tiny_sensevoice_dir: Path, offline: list[str]) -> FunasrEngine:
    return FunasrEngine(
        FunasrConfig(model_dir=str(tiny_sensevoice_dir), vad_dir=str(vad_model_dir()))
    )


@pytest.fixture(scope="module")
def call_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_call_recording(tmp_path_factory.mktemp("calls") / "call.mp3")


def _spy(monkeypatch: pytest.MonkeyPatch, engine: FunasrEngine) -> list[dict[str, Any]]:
    """Record each ASR generate() call's keywords and the raw texts funasr returned."""
    calls: list[dict[str, Any]] = []
    real = engine.asr_model.generate

    def spy(input: list[np.ndarray], **kwargs: Any) -> Any:
        results = real(input=input, **kwargs)
        calls.append({**kwargs, "raw": [str(r.get("text", "")) for r in results]})
        return results

    monkeypatch.setattr(engine.asr_model, "generate", spy)
    return calls


def test_tiny_sensevoice_segments_carry_emotion_and_language(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch, offline: list[str]
) -> None:
    assert engine.model_class == "SenseVoiceSmall" and engine.native_punctuation
    calls = _spy(monkeypatch, engine)
    result = engine.transcribe(Request(audio_path=call_path, language="zh"))

    assert calls and all(c["language"] == "zh" and c["use_itn"] is True for c in calls)
    raw = [text for c in calls for text in c["raw"]]
    assert any("<|" in text for text in raw), "the tiny model should emit rich tags"
    assert result.segments
    for s in result.segments:
        assert "<|" not in s.text and "<|" not in s.raw_text and s.text == s.raw_text
        assert s.emotion in ("happy", "") and s.language in ("en", "")
        assert s.char_timestamps == ()
    # Only <|HAPPY|> and <|en|> can be emitted, and the tiny model does emit them.
    assert any(s.emotion == "happy" for s in result.segments)
    assert any(s.language == "en" for s in result.segments)
    assert offline == []


def test_sensevoice_auto_language_and_ignored_hotwords(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy(monkeypatch, engine)
    result = engine.transcribe(Request(audio_path=call_path, language="", hotwords=("退款",)))
    assert calls and all(c["language"] == "auto" for c in calls)
    assert all("hotword" not in c and "hotwords" not in c for c in calls)
    assert result.ignored_hotwords == ("退款",)


def test_sensevoice_output_is_not_punctuated_again(
    engine: FunasrEngine, call_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class RecordingPunc:
        def __init__(self) -> None:
            self.inputs: list[str] = []

        def generate(self, input: str, **kwargs: Any) -> list[dict[str, Any]]:
            self.inputs.append(input)
            return [{"text": input + "。"}]

    punc = RecordingPunc()
    monkeypatch.setattr(engine, "punc_model", punc)
    result = engine.transcribe(Request(audio_path=call_path))
    assert result.segments and punc.inputs == []

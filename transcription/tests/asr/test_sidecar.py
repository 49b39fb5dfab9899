import json
from pathlib import Path

import pytest

from transcription.asr.base import TranscriptionError, TranscriptionRequest, TranscriptionResult
from transcription.asr.sidecar import SidecarEngine


def transcribe(tmp_path: Path, content: str | bytes) -> TranscriptionResult:
    sidecar = tmp_path / "call.json"
    sidecar.write_bytes(content.encode() if isinstance(content, str) else content)
    request = TranscriptionRequest(audio_path=tmp_path / "call.mp3", sidecar_path=sidecar)
    return SidecarEngine().transcribe(request)


def test_it_imports_segments_sorted_with_call_metadata(tmp_path: Path) -> None:
    document = {
        "schema": "qa-transcript/1",
        "call_id": "RF-1",
        "agent_id": "A1023",
        "team": "一组",
        "started_at": "2026-11-18T09:12:40+08:00",
        "segments": [
            {"role": "customer", "start_ms": 5000, "end_ms": 7000, "text": "我想退费。"},
            {"role": "agent", "start_ms": 100, "end_ms": 4000, "text": "您好，工号1023。"},
            {"role": "agent", "start_ms": 8000, "end_ms": 9000, "text": "   "},
        ],
    }
    result = transcribe(tmp_path, json.dumps(document, ensure_ascii=False))
    assert [s.role for s in result.segments] == ["agent", "customer"]
    assert result.segments[1].text == "我想退费。"
    assert result.metadata.agent_id == "A1023"
    assert result.metadata.started_at == "2026-11-18T09:12:40+08:00"
    assert result.duration_ms == 7000
    assert result.engine == "sidecar"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"segments": [', "不是有效的 JSON：第 1 行"),
        (b"\xff\xfe{}", "不是 UTF-8"),
        ("[]", "顶层必须是 JSON 对象"),
        ('{"schema": "other/2", "segments": []}', "不支持的转写文件格式"),
        ('{"language": "zh"}', "缺少 segments"),
        ('{"segments": [{"role": "boss", "start_ms": 0, "end_ms": 1, "text": "x"}]}', "role 无效"),
        ('{"segments": [{"role": "agent", "start_ms": 9, "end_ms": 1, "text": "x"}]}', "时间无效"),
        ('{"segments": [{"role": "agent", "start_ms": 0, "end_ms": 1}]}', "缺少 text"),
    ],
)
def test_it_rejects_a_broken_sidecar_with_a_clear_reason(
    tmp_path: Path, content: str | bytes, reason: str
) -> None:
    with pytest.raises(TranscriptionError, match=reason):
        transcribe(tmp_path, content)


def test_without_a_sidecar_it_says_neither_transcript_nor_model_is_there(tmp_path: Path) -> None:
    request = TranscriptionRequest(audio_path=tmp_path / "call.mp3", sidecar_path=None)
    with pytest.raises(TranscriptionError, match="ASR_MODEL"):
        SidecarEngine().transcribe(request)

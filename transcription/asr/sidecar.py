"""The sidecar-transcript engine: imports a transcript delivered next to the audio.

Schema `qa-transcript/1` (UTF-8 JSON; see README "Sidecar transcripts"):

    {"schema": "qa-transcript/1", "language": "zh",
     "call_id": "...", "agent_id": "...", "agent_name": "...", "team": "...",
     "customer_phone": "...", "direction": "inbound|outbound",
     "started_at": "2026-11-18T09:12:40+08:00", "duration_ms": 65432,
     "segments": [{"role": "agent|customer|unknown", "start_ms": 0, "end_ms": 1200,
                   "text": "...", "raw_text": "... (optional)", "emotion": "(optional)"}]}

Only `segments` is required; every call field is optional.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from qa_i18n import msg
from transcription.asr.base import (
    ROLES,
    CallMetadata,
    SegmentResult,
    TranscriptionError,
    TranscriptionRequest,
    TranscriptionResult,
)

SCHEMA = "qa-transcript/1"
_METADATA_FIELDS = (
    "call_id",
    "agent_id",
    "agent_name",
    "team",
    "customer_phone",
    "direction",
    "started_at",
)


class SidecarEngine:
    name = "sidecar"

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        started = time.monotonic()
        if request.sidecar_path is None:
            raise TranscriptionError(
                msg("没有随附转写文件（.json），且未配置语音识别模型（ASR_MODEL）")
            )
        try:
            raw = request.sidecar_path.read_bytes()
        except OSError as exc:
            raise TranscriptionError(msg("无法读取转写文件：{error}", error=exc.strerror)) from None
        document = parse_sidecar(raw)
        segments = _segments(document)
        duration = document.get("duration_ms")
        if not isinstance(duration, int) or duration < 0:
            duration = max((s.end_ms for s in segments), default=0)
        return TranscriptionResult(
            engine=self.name,
            model_version=SCHEMA,
            language=str(document.get("language") or request.language),
            duration_ms=duration,
            segments=segments,
            metadata=CallMetadata(**{f: _text(document.get(f)) for f in _METADATA_FIELDS}),
            timings={"import": round(time.monotonic() - started, 4)},
            ignored_hotwords=request.hotwords,
        )


def sidecar_metadata(path: Path) -> CallMetadata:
    """Call facts from a sidecar, for a call whose words come from ASR instead.

    Raises TranscriptionError for a sidecar that cannot be read, like the importer.
    """
    try:
        document = parse_sidecar(path.read_bytes())
    except OSError as exc:
        raise TranscriptionError(msg("无法读取转写文件：{error}", error=exc.strerror)) from None
    return CallMetadata(**{f: _text(document.get(f)) for f in _METADATA_FIELDS})


def parse_sidecar(raw: bytes) -> dict[str, Any]:
    """Decode and check the top level of a sidecar; raises TranscriptionError with the reason."""
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise TranscriptionError(msg("转写文件不是 UTF-8 编码")) from None
    except json.JSONDecodeError as exc:
        raise TranscriptionError(
            msg(
                "转写文件不是有效的 JSON：第 {line} 行第 {column} 列，{error}",
                line=exc.lineno,
                column=exc.colno,
                error=exc.msg,
            )
        ) from None
    if not isinstance(document, dict):
        raise TranscriptionError(msg("转写文件的顶层必须是 JSON 对象"))
    schema = document.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise TranscriptionError(
            msg(
                "不支持的转写文件格式 {schema}，应为 {expected}",
                schema=repr(schema),
                expected=repr(SCHEMA),
            )
        )
    if not isinstance(document.get("segments"), list):
        raise TranscriptionError(msg("转写文件缺少 segments 列表"))
    return document


def _segments(document: dict[str, Any]) -> list[SegmentResult]:
    segments = []
    for number, item in enumerate(document["segments"], start=1):
        if not isinstance(item, dict):
            raise TranscriptionError(msg("第 {number} 个片段不是 JSON 对象", number=number))
        role = item.get("role")
        start, end, text = _ms(item.get("start_ms")), _ms(item.get("end_ms")), item.get("text")
        if role not in ROLES:
            raise TranscriptionError(
                msg("第 {number} 个片段的 role 无效：{role}", number=number, role=repr(role))
            )
        if start is None or end is None or end < start:
            raise TranscriptionError(
                msg(
                    "第 {number} 个片段的时间无效：start_ms={start} end_ms={end}",
                    number=number,
                    start=repr(item.get("start_ms")),
                    end=repr(item.get("end_ms")),
                )
            )
        if not isinstance(text, str):
            raise TranscriptionError(msg("第 {number} 个片段缺少 text", number=number))
        if not text.strip():
            continue
        raw_text = item.get("raw_text")
        segments.append(
            SegmentResult(
                role=role,
                start_ms=start,
                end_ms=end,
                raw_text=raw_text if isinstance(raw_text, str) else text,
                text=text.strip(),
                emotion=_text(item.get("emotion")),
            )
        )
    segments.sort(key=lambda s: (s.start_ms, s.end_ms))
    return segments


def _ms(value: object) -> int | None:
    """A millisecond offset, or None if the value is not a non-negative integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""

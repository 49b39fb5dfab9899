"""Small rule packs for tests that need the pipeline to flag something predictable."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from analytics.models import RuleSetVersion
from analytics.services.analysis import call_analyze
from analytics.services.rulesets import rulepack_load
from qa_platform.models import Agent
from transcription.asr.base import CallMetadata, SegmentResult, TranscriptionResult
from transcription.models import Recording
from transcription.services.recordings import transcript_store

REFUND_RULE: dict[str, Any] = {
    "key": "refund_request", "name": "退费诉求", "severity": "minor",
    "explanation": "客户提出退费{evidence}",
    "operators": {"1": {"type": "keywords", "role": "customer", "any": ["退费"]}},
}  # fmt: skip

REFUND_PACK: dict[str, Any] = {
    "name": "test", "title": "测试质检表", "version": 1,
    "rules": [REFUND_RULE],
    "labels": {"refund_request": {"title": "退费诉求", "rule": "refund_request",
                                  "true_when": "fired"}},
    "scorecard": {"base": 100, "deductions": {"refund_request": {"points": 10}},
                  "manual": {"attitude": {"title": "服务态度", "points": 5}},
                  "flag": {"below": 0, "when": [{"label": "refund_request", "value": True}]}},
}  # fmt: skip


def refund_pack(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(REFUND_PACK)
    document.update(changes)
    return document


def install(document: dict[str, Any] | None = None) -> RuleSetVersion:
    return rulepack_load(document=document or refund_pack())


def analyzed_call(sha: str, agent: Agent | None, texts: list[tuple[str, str]],
                  engine: str = "sidecar", channels: int = 2) -> Recording:
    """A call stored through the pipeline's own services: transcript_store, then call_analyze.

    Turns follow each other 0.5 s apart, spoken at 240 characters a minute (at least 1.5 s);
    `sha` names the call (call id CALL-<sha>).
    """
    segments, cursor = [], 0
    for role, text in texts:
        end = cursor + max(1500, 250 * len(text))
        segments.append(SegmentResult(role=role, start_ms=cursor, end_ms=end, raw_text=text,
                                      text=text))  # fmt: skip
        cursor = end + 500
    recording = Recording.objects.create(
        sha256=hashlib.sha256(sha.encode()).hexdigest(), size_bytes=1, audio_file="x.mp3",
        status=Recording.Status.TRANSCRIBING, call_id=f"CALL-{sha}", channels=channels,
        duration_ms=cursor,
    )
    result = TranscriptionResult(engine=engine, model_version="v", language="zh",
                                 duration_ms=cursor, segments=segments,
                                 metadata=CallMetadata(agent_id=agent.code if agent else ""))
    transcript_store(recording_id=recording.id, result=result)
    call_analyze(recording_id=recording.id)
    recording.refresh_from_db()
    return recording

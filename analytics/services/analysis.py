"""The analysis stage: apply the active rules to a transcript and store the hits."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from analytics.models import Hit
from analytics.rules.keyword import SegmentData
from analytics.services.rulesets import active_ruleset
from transcription.models import Recording, Segment
from transcription.services.recordings import claim_stage, recording_fail

logger = logging.getLogger(__name__)


def call_analyze(*, recording_id: int) -> Recording | None:
    """Analyze one transcribed call. Returns None when another worker already has it."""
    if not claim_stage(recording_id, Recording.Status.TRANSCRIBED, Recording.Status.ANALYZING):
        return None
    try:
        segments = [
            SegmentData(id=s["id"], role=s["role"], start_ms=s["start_ms"], end_ms=s["end_ms"],
                        text=s["text"])
            for s in Segment.objects.filter(transcript__recording_id=recording_id)
            .order_by("index")
            .values("id", "role", "start_ms", "end_ms", "text")
        ]
        hits = active_ruleset().find_hits(segments)
    except Exception as exc:
        logger.exception("analysis of recording %s crashed", recording_id)
        return recording_fail(recording_id=recording_id, stage=Recording.Stage.ANALYZE,
                              reason=f"分析程序出错：{type(exc).__name__}: {exc}")
    with transaction.atomic():
        Hit.objects.filter(recording_id=recording_id).delete()
        Hit.objects.bulk_create(
            Hit(
                recording_id=recording_id,
                rule_id=hit.rule_id,
                segment_id=hit.segment_id,
                char_start=hit.char_start,
                char_end=hit.char_end,
                start_ms=hit.start_ms,
                end_ms=hit.end_ms,
                matched_text=hit.matched_text[:200],
                reason=hit.reason[:300],
            )
            for hit in hits
        )
        Recording.objects.filter(id=recording_id, status=Recording.Status.ANALYZING).update(
            status=Recording.Status.ANALYZED, status_changed_at=timezone.now(),
            failed_stage="", error="",
        )
    logger.info("analyzed recording %s: %d hits", recording_id, len(hits))
    return Recording.objects.get(id=recording_id)

"""Writes for recordings: registration, the transcription stage, failure and retry."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from qa_i18n import msg
from transcription.asr.base import (
    ROLE_AGENT,
    ROLE_CUSTOMER,
    ROLE_UNKNOWN,
    SegmentResult,
    TranscriptionError,
    TranscriptionRequest,
    TranscriptionResult,
)
from transcription.asr.itn import normalize as itn_normalize
from transcription.asr.registry import get_engine
from transcription.asr.sidecar import SidecarEngine, sidecar_metadata
from transcription.models import Recording, RecordingSource, Segment, Transcript
from transcription.pii import TYPES as PII_TYPES
from transcription.pii import count_by_type, find_pii, mask_segments
from transcription.services.calls import call_metadata_apply
from transcription.services.hotwords import hotwords_for
from transcription.storage import absolute_path

logger = logging.getLogger(__name__)


def recording_transcribe(*, recording_id: int) -> Recording | None:
    """The transcription stage. Returns None when another worker already has the row."""
    if not claim_stage(recording_id, Recording.Status.RECEIVED, Recording.Status.TRANSCRIBING):
        return None
    recording = Recording.objects.select_related("source").get(id=recording_id)
    request = TranscriptionRequest(
        audio_path=absolute_path(recording.audio_file),
        sidecar_path=absolute_path(recording.sidecar_file) if recording.sidecar_file else None,
        channel_roles=_channel_roles(recording),
        hotwords=hotwords_for(recording.source),
        channels=recording.channels,
    )
    try:
        result = get_engine().transcribe(request)
        if request.sidecar_path is not None and result.engine != SidecarEngine.name:
            # ASR supplies the words; the delivered sidecar still knows who and when.
            result = replace(result, metadata=sidecar_metadata(request.sidecar_path))
        result = with_written_numbers(result)
    except SoftTimeLimitExceeded:
        return recording_fail(
            recording_id=recording_id,
            stage=Recording.Stage.TRANSCRIBE,
            reason=msg("转写超时（超过按录音时长计算的时限），可重试"),
        )
    except TranscriptionError as exc:
        return recording_fail(
            recording_id=recording_id, stage=Recording.Stage.TRANSCRIBE, reason=str(exc)
        )
    except Exception as exc:
        logger.exception("transcription of recording %s crashed", recording_id)
        return recording_fail(
            recording_id=recording_id,
            stage=Recording.Stage.TRANSCRIBE,
            reason=msg("转写程序出错：{kind}: {error}", kind=type(exc).__name__, error=exc),
        )
    return transcript_store(recording_id=recording_id, result=result, hotwords=request.hotwords)


def with_written_numbers(result: TranscriptionResult) -> TranscriptionResult:
    """Inverse text normalisation on every engine's display text; raw text is kept as heard.

    Also a guard for engines that normalise themselves: it leaves written numbers alone.
    """
    segments = [replace(s, text=itn_normalize(s.text)) for s in result.segments]
    return replace(result, segments=segments)


def transcript_store(
    *, recording_id: int, result: TranscriptionResult, hotwords: tuple[str, ...] = ()
) -> Recording:
    """Write a transcript and its segments in one transaction, then queue analysis.

    PII is masked here, so no engine or import path stores it unmasked (PII_REDACTION).
    """
    segments, pii_masked = redact_segments(result.segments)
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(id=recording_id)
        Transcript.objects.filter(recording=recording).delete()
        transcript = Transcript.objects.create(
            recording=recording,
            engine=result.engine,
            model_version=result.model_version[:200],
            language=result.language,
            timings=result.timings,
            hotword_count=max(len(hotwords) - len(result.ignored_hotwords), 0),
            ignored_hotwords=list(result.ignored_hotwords),
            pii_masked=pii_masked,
        )
        Segment.objects.bulk_create(
            Segment(
                transcript=transcript,
                index=index,
                role=segment.role,
                start_ms=segment.start_ms,
                end_ms=segment.end_ms,
                raw_text=segment.raw_text,
                text=segment.text,
                emotion=segment.emotion[:20],
                char_timestamps=[list(span) for span in segment.char_timestamps],
            )
            for index, segment in enumerate(segments)
        )
        call_metadata_apply(recording, result.metadata)
        if not recording.duration_ms:
            recording.duration_ms = result.duration_ms
        recording.status = Recording.Status.TRANSCRIBED
        recording.status_changed_at = timezone.now()
        recording.failed_stage = ""
        recording.error = ""
        recording.save()
        transaction.on_commit(lambda: _queue_analysis(recording_id))
    return recording


def redact_segments(segments: list[SegmentResult]) -> tuple[list[SegmentResult], dict[str, int]]:
    """Segments with PII digits masked in text and raw_text, and the spans masked per type.

    Both texts are searched across the whole call (split numbers) and masked in place: lengths
    stay the same, so char_timestamps still line up with raw_text. The count per type is the
    larger of the two texts' counts.
    """
    if not settings.PII_REDACTION:
        return list(segments), {}
    shown = find_pii(segments)
    heard = find_pii([{"role": s.role, "text": s.raw_text} for s in segments])
    texts = mask_segments([s.text for s in segments], shown)
    raw_texts = mask_segments([s.raw_text for s in segments], heard)
    masked = [
        replace(segment, text=text, raw_text=raw_text)
        for segment, text, raw_text in zip(segments, texts, raw_texts, strict=True)
    ]
    by_text, by_raw = count_by_type(shown), count_by_type(heard)
    counts = {t: max(by_text.get(t, 0), by_raw.get(t, 0)) for t in PII_TYPES}
    return masked, {t: n for t, n in counts.items() if n}


def recording_fail(*, recording_id: int, stage: str, reason: str) -> Recording:
    Recording.objects.filter(id=recording_id).update(
        status=Recording.Status.FAILED,
        failed_stage=stage,
        error=reason[:4000],
        status_changed_at=timezone.now(),
    )
    logger.warning("recording %s failed at %s: %s", recording_id, stage, reason)
    return Recording.objects.get(id=recording_id)


def recording_retry(*, recording_id: int) -> bool:
    """Send a failed recording back to the stage it failed in, or re-check a rejected one.

    False if nothing was queued (not failed, still rejected under the current limits, or its
    audio, which the stage needs, was purged under the retention policy).
    """
    recording = Recording.objects.get(id=recording_id)
    needs_audio = not (recording.status == Recording.Status.FAILED
                       and recording.failed_stage == Recording.Stage.ANALYZE)
    if needs_audio and not recording.audio_file:
        return False  # its raw audio was purged under the retention policy
    if recording.status == Recording.Status.REJECTED:
        from transcription.services.registration import recording_recheck

        return recording_recheck(recording_id=recording_id).status == Recording.Status.RECEIVED
    if recording.status != Recording.Status.FAILED:
        return False
    to_analysis = recording.failed_stage == Recording.Stage.ANALYZE
    target = Recording.Status.TRANSCRIBED if to_analysis else Recording.Status.RECEIVED
    with transaction.atomic():
        updated = Recording.objects.filter(id=recording_id, status=Recording.Status.FAILED).update(
            status=target, failed_stage="", error="", status_changed_at=timezone.now()
        )
        if updated:
            if to_analysis:
                transaction.on_commit(lambda: _queue_analysis(recording_id))
            else:
                transaction.on_commit(lambda: queue_transcription(recording_id))
    return bool(updated)


def recordings_requeue_stuck(*, now: datetime | None = None) -> int:
    """Put recordings stuck in a working status (a killed worker) back in the queue."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.PIPELINE_STUCK_AFTER_S)
    requeued = 0
    for working, previous, queue in (
        (Recording.Status.TRANSCRIBING, Recording.Status.RECEIVED, queue_transcription),
        (Recording.Status.ANALYZING, Recording.Status.TRANSCRIBED, _queue_analysis),
    ):
        stuck = list(
            Recording.objects.filter(status=working, status_changed_at__lt=cutoff).values_list(
                "id", flat=True
            )
        )
        for recording_id in stuck:
            with transaction.atomic():
                if Recording.objects.filter(id=recording_id, status=working).update(
                    status=previous, status_changed_at=timezone.now()
                ):
                    requeued += 1
                    transaction.on_commit(partial(queue, recording_id))
    return requeued


def claim_stage(recording_id: int, expected: str, working: str) -> bool:
    """Claim a recording for a stage with a conditional UPDATE; only one worker wins."""
    return bool(
        Recording.objects.filter(id=recording_id, status=expected).update(
            status=working, status_changed_at=timezone.now(), attempts=F("attempts") + 1
        )
    )


def _channel_roles(recording: Recording) -> tuple[str, ...]:
    if recording.channels == 1:
        return (ROLE_UNKNOWN,)
    agent_left = (
        recording.source is None
        or recording.source.agent_channel == RecordingSource.AgentChannel.LEFT
    )
    return (ROLE_AGENT, ROLE_CUSTOMER) if agent_left else (ROLE_CUSTOMER, ROLE_AGENT)


def queue_transcription(recording_id: int) -> None:
    from transcription.tasks import recording_transcribe as task

    duration_ms = (
        Recording.objects.filter(id=recording_id).values_list("duration_ms", flat=True).first()
    )
    soft, hard = transcription_time_limits(duration_ms)
    task.apply_async((recording_id,), soft_time_limit=soft, time_limit=hard)


def transcription_time_limits(duration_ms: int | None) -> tuple[int, int]:
    """Seconds a transcription may take: scaled by the audio's length, with a floor."""
    audio_s = (duration_ms or 3600 * 1000) / 1000
    soft = int(settings.ASR_TIME_LIMIT_MIN_S + audio_s * settings.ASR_TIME_LIMIT_FACTOR)
    return soft, soft + 60


def _queue_analysis(recording_id: int) -> None:
    from analytics.tasks import call_analyze

    call_analyze.delay(recording_id)

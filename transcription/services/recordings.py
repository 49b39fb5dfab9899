"""Writes for recordings: registration, the transcription stage, failure and retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from qa_platform.models import Agent, Team
from transcription.asr.audio import NotAudioError, probe_audio
from transcription.asr.base import (
    ROLE_AGENT,
    ROLE_CUSTOMER,
    ROLE_UNKNOWN,
    CallMetadata,
    TranscriptionError,
    TranscriptionRequest,
    TranscriptionResult,
)
from transcription.asr.registry import get_engine
from transcription.asr.sidecar import SidecarEngine, sidecar_metadata
from transcription.models import Recording, RecordingSource, Segment, Transcript
from transcription.storage import absolute_path, audio_suffix, store_file

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    recording: Recording
    created: bool


def recording_register(
    *,
    temp_path: Path,
    sha256: str,
    size: int,
    original_name: str,
    source: RecordingSource | None = None,
    remote_path: str = "",
    remote_size: int | None = None,
    remote_mtime: int | None = None,
    sidecar_temp_path: Path | None = None,
) -> Registration:
    """Register a fully downloaded file; the one way in for every source.

    Duplicates (same sha256 from any source) are dropped. A file that is not
    audio is kept as a REJECTED recording with the reason. A new recording is
    queued for transcription once the transaction commits.
    """
    existing = Recording.objects.filter(sha256=sha256).first()
    if existing is not None:
        _discard(temp_path, sidecar_temp_path)
        return Registration(existing, created=False)

    status, error, info = Recording.Status.RECEIVED, "", None
    try:
        info = probe_audio(temp_path)
    except NotAudioError as exc:
        status, error = Recording.Status.REJECTED, str(exc)

    now = timezone.now()
    audio_file = store_file(temp_path, sha256=sha256, suffix=audio_suffix(original_name), when=now)
    sidecar_file = ""
    if sidecar_temp_path is not None:
        sidecar_file = store_file(sidecar_temp_path, sha256=sha256, suffix=".transcript.json",
                                  when=now)
    try:
        with transaction.atomic():
            recording = Recording.objects.create(
                source=source,
                remote_path=remote_path,
                remote_size=remote_size,
                remote_mtime=remote_mtime,
                original_name=original_name[:500],
                sha256=sha256,
                size_bytes=size,
                audio_file=audio_file,
                sidecar_file=sidecar_file,
                codec=info.codec if info else "",
                channels=info.channels if info else None,
                sample_rate=info.sample_rate if info else None,
                duration_ms=info.duration_ms if info else None,
                status=status,
                failed_stage=Recording.Stage.INGEST if error else "",
                error=error,
            )
            if status == Recording.Status.RECEIVED:
                transaction.on_commit(lambda: _queue_transcription(recording.id))
    except IntegrityError:
        # Another worker registered the same content a moment ago; its files are the same bytes.
        return Registration(Recording.objects.get(sha256=sha256), created=False)
    logger.info("registered recording %s (%s) status=%s", recording.id, sha256[:12], status)
    return Registration(recording, created=True)


def recording_transcribe(*, recording_id: int) -> Recording | None:
    """The transcription stage. Returns None when another worker already has the row."""
    if not claim_stage(recording_id, Recording.Status.RECEIVED, Recording.Status.TRANSCRIBING):
        return None
    recording = Recording.objects.select_related("source").get(id=recording_id)
    request = TranscriptionRequest(
        audio_path=absolute_path(recording.audio_file),
        sidecar_path=absolute_path(recording.sidecar_file) if recording.sidecar_file else None,
        channel_roles=_channel_roles(recording),
    )
    try:
        result = get_engine().transcribe(request)
        if request.sidecar_path is not None and result.engine != SidecarEngine.name:
            # ASR supplies the words; the delivered sidecar still knows who and when.
            result = replace(result, metadata=sidecar_metadata(request.sidecar_path))
    except TranscriptionError as exc:
        return recording_fail(recording_id=recording_id, stage=Recording.Stage.TRANSCRIBE,
                              reason=str(exc))
    except Exception as exc:
        logger.exception("transcription of recording %s crashed", recording_id)
        return recording_fail(recording_id=recording_id, stage=Recording.Stage.TRANSCRIBE,
                              reason=f"转写程序出错：{type(exc).__name__}: {exc}")
    return transcript_store(recording_id=recording_id, result=result)


def transcript_store(*, recording_id: int, result: TranscriptionResult) -> Recording:
    """Write a transcript and its segments in one transaction, then queue analysis."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(id=recording_id)
        Transcript.objects.filter(recording=recording).delete()
        transcript = Transcript.objects.create(
            recording=recording,
            engine=result.engine,
            model_version=result.model_version[:200],
            language=result.language,
            timings=result.timings,
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
            )
            for index, segment in enumerate(result.segments)
        )
        _apply_metadata(recording, result.metadata)
        if not recording.duration_ms:
            recording.duration_ms = result.duration_ms
        recording.status = Recording.Status.TRANSCRIBED
        recording.status_changed_at = timezone.now()
        recording.failed_stage = ""
        recording.error = ""
        recording.save()
        transaction.on_commit(lambda: _queue_analysis(recording_id))
    return recording


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
    """Send a failed recording back to the stage it failed in. False if it is not failed."""
    recording = Recording.objects.get(id=recording_id)
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
                transaction.on_commit(lambda: _queue_transcription(recording_id))
    return bool(updated)


def recordings_requeue_stuck(*, now: datetime | None = None) -> int:
    """Put recordings stuck in a working status (a killed worker) back in the queue."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.PIPELINE_STUCK_AFTER_S)
    requeued = 0
    for working, previous, queue in (
        (Recording.Status.TRANSCRIBING, Recording.Status.RECEIVED, _queue_transcription),
        (Recording.Status.ANALYZING, Recording.Status.TRANSCRIBED, _queue_analysis),
    ):
        stuck = list(
            Recording.objects.filter(status=working, status_changed_at__lt=cutoff)
            .values_list("id", flat=True)
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


def _apply_metadata(recording: Recording, metadata: CallMetadata) -> None:
    if metadata.call_id:
        recording.call_id = metadata.call_id[:100]
    if metadata.customer_phone:
        recording.customer_phone = metadata.customer_phone[:50]
    if metadata.direction:
        recording.direction = metadata.direction[:20]
    if metadata.started_at:
        recording.started_at = _parse_time(metadata.started_at) or recording.started_at
    if metadata.agent_id:
        recording.agent = _agent_for(metadata)


def _agent_for(metadata: CallMetadata) -> Agent:
    team = Team.objects.get_or_create(name=metadata.team[:100])[0] if metadata.team else None
    agent, created = Agent.objects.get_or_create(
        code=metadata.agent_id[:50], defaults={"name": metadata.agent_name[:100], "team": team}
    )
    if not created and ((not agent.team_id and team) or (not agent.name and metadata.agent_name)):
        agent.team = agent.team or team
        agent.name = agent.name or metadata.agent_name[:100]
        agent.save(update_fields=["team", "name", "updated_at"])
    return agent


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _discard(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def _queue_transcription(recording_id: int) -> None:
    from transcription.tasks import recording_transcribe as task

    task.delay(recording_id)


def _queue_analysis(recording_id: int) -> None:
    from analytics.tasks import call_analyze

    call_analyze.delay(recording_id)

"""Celery tasks: take ids, call one service. Routing and retries live in settings."""

from __future__ import annotations

from celery import shared_task

from transcription.models import RecordingSource
from transcription.services import recordings, sources


@shared_task(name="transcription.tasks.source_pull")
def source_pull(source_id: int) -> int:
    return sources.source_pull(source_id=source_id).id


@shared_task(name="transcription.tasks.sources_pull_due")
def sources_pull_due() -> int:
    ids = list(RecordingSource.objects.filter(enabled=True).values_list("id", flat=True))
    for source_id in ids:
        source_pull.delay(source_id)
    return len(ids)


@shared_task(name="transcription.tasks.recording_transcribe")
def recording_transcribe(recording_id: int) -> None:
    recordings.recording_transcribe(recording_id=recording_id)


@shared_task(name="transcription.tasks.recordings_requeue_stuck")
def recordings_requeue_stuck() -> int:
    return recordings.recordings_requeue_stuck()

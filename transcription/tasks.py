"""Celery tasks: take ids, call one service. Routing and retries live in settings."""

from __future__ import annotations

from celery import shared_task

from transcription.services import recordings, retention, sources


@shared_task(name="transcription.tasks.source_pull")
def source_pull(source_id: int) -> int | None:
    run = sources.source_pull(source_id=source_id)
    return run.id if run else None


@shared_task(name="transcription.tasks.sources_pull_due")
def sources_pull_due() -> int:
    due = sources.sources_due()
    for source_id in due:
        source_pull.delay(source_id)
    return len(due)


@shared_task(name="transcription.tasks.recording_transcribe")
def recording_transcribe(recording_id: int) -> None:
    recordings.recording_transcribe(recording_id=recording_id)


@shared_task(name="transcription.tasks.raw_audio_purge")
def raw_audio_purge() -> int:
    return retention.raw_audio_purge().purged


@shared_task(name="transcription.tasks.recordings_requeue_stuck")
def recordings_requeue_stuck() -> int:
    return recordings.recordings_requeue_stuck()

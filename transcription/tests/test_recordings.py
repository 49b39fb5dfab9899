"""The pipeline's bookkeeping: claiming, failing, retrying and recovering from a killed worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from transcription.models import Recording
from transcription.services.recordings import (
    claim_stage,
    recording_retry,
    recordings_requeue_stuck,
)

pytestmark = pytest.mark.django_db


def recording(status: str, *, changed_minutes_ago: int = 0, **extra: object) -> Recording:
    return Recording.objects.create(
        sha256=f"{Recording.objects.count():064d}", size_bytes=1, audio_file="x.mp3",
        status=status, status_changed_at=timezone.now() - timedelta(minutes=changed_minutes_ago),
        **extra,
    )


def test_only_one_worker_can_claim_a_recording() -> None:
    r = recording(Recording.Status.RECEIVED)
    assert claim_stage(r.id, Recording.Status.RECEIVED, Recording.Status.TRANSCRIBING)
    assert not claim_stage(r.id, Recording.Status.RECEIVED, Recording.Status.TRANSCRIBING)
    r.refresh_from_db()
    assert (r.status, r.attempts) == (Recording.Status.TRANSCRIBING, 1)


def test_a_recording_stuck_after_a_killed_worker_is_queued_again(
    django_capture_on_commit_callbacks: object, settings: object
) -> None:
    settings.PIPELINE_STUCK_AFTER_S = 600  # type: ignore[attr-defined]
    stuck = recording(Recording.Status.TRANSCRIBING, changed_minutes_ago=30)
    busy = recording(Recording.Status.TRANSCRIBING, changed_minutes_ago=1)
    stuck_analysis = recording(Recording.Status.ANALYZING, changed_minutes_ago=30)
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        assert recordings_requeue_stuck() == 2
    assert len(callbacks) == 2
    statuses = dict(Recording.objects.values_list("id", "status"))
    assert statuses[stuck.id] == Recording.Status.RECEIVED
    assert statuses[busy.id] == Recording.Status.TRANSCRIBING
    assert statuses[stuck_analysis.id] == Recording.Status.TRANSCRIBED


def test_retry_sends_a_failed_recording_back_to_the_stage_it_failed_in(
    django_capture_on_commit_callbacks: object,
) -> None:
    at_analysis = recording(Recording.Status.FAILED, failed_stage=Recording.Stage.ANALYZE,
                            error="boom")
    at_transcription = recording(Recording.Status.FAILED,
                                 failed_stage=Recording.Stage.TRANSCRIBE, error="boom")
    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        assert recording_retry(recording_id=at_analysis.id)
        assert recording_retry(recording_id=at_transcription.id)
    at_analysis.refresh_from_db()
    at_transcription.refresh_from_db()
    assert (at_analysis.status, at_analysis.error) == (Recording.Status.TRANSCRIBED, "")
    assert at_transcription.status == Recording.Status.RECEIVED


def test_retry_leaves_a_recording_that_has_not_failed_alone() -> None:
    r = recording(Recording.Status.ANALYZED)
    assert not recording_retry(recording_id=r.id)

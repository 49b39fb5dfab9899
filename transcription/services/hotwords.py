"""Hotwords for transcription, and re-transcribing calls after the lists change."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from transcription.models import Hotword, Recording, RecordingSource
from transcription.storage import absolute_path


def hotwords_for(source: RecordingSource | None) -> tuple[str, ...]:
    """The global list plus the source's own, in a stable order, without repeats."""
    lists = Q(source__isnull=True) | (Q(source=source) if source is not None else Q(pk=None))
    words = Hotword.objects.filter(lists).order_by("source_id", "word").values_list(
        "word", flat=True
    )
    return tuple(dict.fromkeys(words))


def recordings_retranscribe(*, since: date, until: date,
                            source_id: int | None = None) -> int:
    """Queue every call of these days (by call start, else arrival) for transcription again.

    Calls still in the pipeline are left alone; their turn comes anyway. Returns how
    many were queued.
    """
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(since, time.min), tz)
    end = timezone.make_aware(datetime.combine(until, time.max), tz)
    in_range = Q(started_at__range=(start, end)) | Q(started_at__isnull=True,
                                                    created_at__range=(start, end))
    candidates = Recording.objects.filter(in_range).filter(
        status__in=[Recording.Status.ANALYZED, Recording.Status.FAILED,
                    Recording.Status.TRANSCRIBED]
    )
    if source_id is not None:
        candidates = candidates.filter(source_id=source_id)
    # Raw audio past its retention is gone; those calls keep their transcripts.
    ids = [rid for rid, audio in candidates.values_list("id", "audio_file")
           if absolute_path(audio).exists()]
    from transcription.services.recordings import queue_transcription

    queued = 0
    for recording_id in ids:
        with transaction.atomic():
            # Conditional, so a worker that just claimed the call keeps it.
            if Recording.objects.filter(id=recording_id, status__in=[
                Recording.Status.ANALYZED, Recording.Status.FAILED, Recording.Status.TRANSCRIBED
            ]).update(status=Recording.Status.RECEIVED, failed_stage="", error="",
                      status_changed_at=timezone.now()):
                queued += 1
                transaction.on_commit(partial(queue_transcription, recording_id))
    return queued

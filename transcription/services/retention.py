"""Raw-audio retention: recordings are deleted `RAW_AUDIO_RETENTION_DAYS` after they arrived.

What goes: the stored audio, the call platform's transcript sidecar stored with it (raw,
unmasked input), and the PCM copy the call page may have made for the browser. What stays:
the masked transcript, the analysis, the scores — and a `Tombstone` (sha256, source, remote
path) so the same content is never pulled or uploaded again (registration refuses it).

Recordings that have not been transcribed yet (received, transcribing) are kept past the
limit and counted, because deleting them would lose the call outright: that is a stuck
pipeline for an operator to see (the pipeline page counts them), not data to drop silently.
Each batch is one transaction and one audit event; a file already gone is not an error.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from qa_platform.audit import audit_record
from transcription.models import Recording, Tombstone
from transcription.storage import absolute_path

logger = logging.getLogger(__name__)

BATCH = 500
REASON = "raw_audio_retention"
# Not transcribed yet: their audio is the only copy of the call.
KEPT_STATUSES = (Recording.Status.RECEIVED, Recording.Status.TRANSCRIBING)


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    files_deleted: int
    kept_untranscribed: int
    failed: int = 0  # recordings whose files could not be deleted: tried again next run


def raw_audio_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=settings.RAW_AUDIO_RETENTION_DAYS)


def raw_audio_purge(*, now: dt.datetime | None = None, batch: int = BATCH) -> PurgeResult:
    """Delete the raw audio of every recording past the retention limit; see the module.

    A file that cannot be deleted (permissions, an I/O error) is logged and its recording left
    as it is, to be tried again on the next run; the others are purged.
    """
    cutoff = raw_audio_cutoff(now)
    expired = Recording.objects.filter(created_at__lt=cutoff).exclude(audio_file="")
    purged = deleted = failed = 0
    after = 0
    while True:
        with transaction.atomic():
            rows = list(
                expired.exclude(status__in=KEPT_STATUSES).filter(id__gt=after)
                .select_for_update(skip_locked=True)
                .order_by("id")
                .values("id", "sha256", "source_id", "remote_path", "audio_file",
                        "sidecar_file")[:batch]
            )  # fmt: skip
            if not rows:
                break
            after = rows[-1]["id"]
            done = []
            for row in rows:
                count = _delete_files(row)
                if count is None:
                    failed += 1
                    continue
                deleted += count
                done.append(row)
            if not done:
                continue
            Tombstone.objects.bulk_create(
                [Tombstone(sha256=row["sha256"], source_id=row["source_id"],
                           remote_path=row["remote_path"], reason=REASON) for row in done],
                ignore_conflicts=True,  # content purged before and taken in again by hand
            )  # fmt: skip
            ids = [row["id"] for row in done]
            Recording.objects.filter(id__in=ids).update(audio_file="", sidecar_file="")
            audit_record(user=None, action="recording.purge_audio", object_type="recording",
                         object_id=ids[0] if len(ids) == 1 else "",
                         details={"recordings": ids, "reason": REASON,
                                  "retention_days": settings.RAW_AUDIO_RETENTION_DAYS})  # fmt: skip
            purged += len(done)
    kept = expired.filter(status__in=KEPT_STATUSES).count()
    if kept:
        logger.warning("%d recordings are past raw-audio retention but not transcribed yet; "
                       "their audio is kept until they are", kept)  # fmt: skip
    if purged:
        logger.info("purged the raw audio of %d recordings (%d files)", purged, deleted)
    return PurgeResult(purged, deleted, kept, failed)


def _delete_files(row: Mapping[str, Any]) -> int | None:
    """How many of the recording's files were deleted; None when one could not be (logged)."""
    paths: list[Path] = []
    for name in ("audio_file", "sidecar_file"):
        relative = str(row[name] or "")
        if relative:
            try:
                paths.append(absolute_path(relative))
            except ValueError:  # a stored path outside QA_DATA_DIR is never touched
                logger.error("recording %s: refusing to delete %r outside QA_DATA_DIR",
                             row["id"], relative)  # fmt: skip
                return None
    paths.append(Path(settings.QA_DATA_DIR) / "playback" / f"{row['sha256']}.wav")
    count = 0
    for path in paths:
        try:
            path.unlink()
            count += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.error("recording %s: cannot delete %s: %s; kept for the next run",
                         row["id"], path, exc)  # fmt: skip
            return None
    return count

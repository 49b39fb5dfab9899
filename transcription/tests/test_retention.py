"""Raw-audio retention: audio past RAW_AUDIO_RETENTION_DAYS is deleted, a tombstone keeps the
content from coming back, transcripts and scores stay, untranscribed calls are kept."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from qa_platform.models import AuditEvent
from transcription.models import Recording, Tombstone
from transcription.services.recordings import recording_retry
from transcription.services.registration import TombstonedError, recording_register
from transcription.services.retention import raw_audio_purge

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def stored(name: str, status: str, *, days_old: int, sidecar: bool = False,
           **extra: Any) -> Recording:  # fmt: skip
    sha = hashlib.sha256(name.encode()).hexdigest()
    root = Path(settings.QA_DATA_DIR)
    audio = Path("audio/2026/11/01") / f"{sha}.mp3"
    (root / audio).parent.mkdir(parents=True, exist_ok=True)
    (root / audio).write_bytes(b"ID3 audio of " + name.encode())
    side = ""
    if sidecar:
        side = str(audio.with_suffix(".json"))
        (root / side).write_text('{"schema": "qa-transcript/1"}', encoding="utf-8")
    recording = Recording.objects.create(
        sha256=sha, size_bytes=10, audio_file=str(audio), sidecar_file=side, status=status,
        remote_path=f"in/{name}.mp3", original_name=f"{name}.mp3", **extra,
    )  # fmt: skip
    Recording.objects.filter(id=recording.id).update(created_at=NOW - dt.timedelta(days=days_old))
    return Recording.objects.get(id=recording.id)


def exists(relative: str) -> bool:
    return (Path(settings.QA_DATA_DIR) / relative).exists()


def test_old_audio_goes_and_a_tombstone_stays(settings: Any) -> None:
    settings.RAW_AUDIO_RETENTION_DAYS = 7
    old = stored("old", Recording.Status.ANALYZED, days_old=8, sidecar=True)
    failed = stored("failed", Recording.Status.FAILED, days_old=30,
                    failed_stage=Recording.Stage.TRANSCRIBE, error="无法解码音频")  # fmt: skip
    fresh = stored("fresh", Recording.Status.ANALYZED, days_old=6)
    waiting = stored("waiting", Recording.Status.RECEIVED, days_old=9)
    playback = Path(settings.QA_DATA_DIR) / "playback" / f"{old.sha256}.wav"
    playback.parent.mkdir(parents=True, exist_ok=True)
    playback.write_bytes(b"RIFF")
    old_files = (old.audio_file, old.sidecar_file)

    result = raw_audio_purge(now=NOW)

    assert (result.purged, result.files_deleted, result.kept_untranscribed) == (2, 4, 1)
    assert result.failed == 0
    assert not any(exists(f) for f in old_files) and not playback.exists()
    assert not exists(failed.audio_file) and exists(fresh.audio_file)
    assert exists(waiting.audio_file)  # not transcribed yet: the only copy of the call
    for recording in (old, failed):
        recording.refresh_from_db()
        assert (recording.audio_file, recording.sidecar_file) == ("", "")
        tomb = Tombstone.objects.get(sha256=recording.sha256)
        assert (tomb.remote_path, tomb.reason) == (recording.remote_path, "raw_audio_retention")
    assert Recording.objects.get(id=fresh.id).audio_file == fresh.audio_file
    event = AuditEvent.objects.get(action="recording.purge_audio")
    assert sorted(event.details["recordings"]) == sorted([old.id, failed.id])
    # A second run has nothing left to do.
    assert raw_audio_purge(now=NOW).purged == 0
    # Its audio is gone, so a failed transcription cannot be retried.
    assert recording_retry(recording_id=failed.id) is False


def test_purged_content_is_never_taken_in_again(tmp_path: Path) -> None:
    old = stored("again", Recording.Status.ANALYZED, days_old=8)
    raw_audio_purge(now=NOW)
    copy = tmp_path / "again.mp3"
    copy.write_bytes(b"ID3 audio of again")
    again = recording_register(temp_path=copy, sha256=old.sha256, size=copy.stat().st_size,
                               original_name="again.mp3")  # fmt: skip
    assert not again.created and not copy.exists()  # the call is known: nothing is stored
    assert Recording.objects.get(id=old.id).audio_file == ""
    # Once the call itself is gone too, the tombstone alone refuses the content.
    Recording.objects.filter(id=old.id).delete()
    copy.write_bytes(b"ID3 audio of again")
    with pytest.raises(TombstonedError):
        recording_register(temp_path=copy, sha256=old.sha256, size=copy.stat().st_size,
                           original_name="again.mp3")  # fmt: skip
    assert not copy.exists()


def test_the_call_page_says_the_recording_was_deleted(client: Client, org: dict) -> None:
    from analytics.tests.packs import analyzed_call, install

    install()
    call = analyzed_call("purged", org["agent1"], [("customer", "我要退费")])
    Recording.objects.filter(id=call.id).update(created_at=NOW - dt.timedelta(days=30))
    raw_audio_purge(now=NOW)
    client.force_login(org["sup1"])
    response = client.get(f"/calls/{call.id}/audio")
    assert response.status_code == 410 and "保留期限" in response.content.decode()
    assert "我要" in client.get(f"/calls/{call.id}/").content.decode()  # the transcript stays


def test_a_file_that_cannot_be_deleted_is_kept_for_the_next_run(monkeypatch: Any) -> None:
    stuck = stored("stuck", Recording.Status.ANALYZED, days_old=8)
    other = stored("other", Recording.Status.ANALYZED, days_old=8)
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if path.name == Path(stuck.audio_file).name:
            raise PermissionError(13, "Permission denied")
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    result = raw_audio_purge(now=NOW)
    assert (result.purged, result.failed) == (1, 1)
    assert Recording.objects.get(id=stuck.id).audio_file == stuck.audio_file  # still on record
    assert not Tombstone.objects.filter(sha256=stuck.sha256).exists()
    assert Recording.objects.get(id=other.id).audio_file == ""
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert raw_audio_purge(now=NOW).purged == 1  # the next run finishes it
    assert not exists(stuck.audio_file)

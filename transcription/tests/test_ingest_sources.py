"""What a source is configured to do, against a real SFTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conftest import DEMO_CALLS
from transcription.models import IngestRun, Recording, RecordingSource, SourceFile, Tombstone
from transcription.services.recordings import recording_retry
from transcription.services.sources import source_file_retry, source_pull, sources_due

pytestmark = pytest.mark.django_db(transaction=True)

CALL = "call_01_annual_fee_refund"


@pytest.fixture(autouse=True)
def rules(db: None) -> None:
    from django.core.management import call_command

    call_command("load_rulepack", "standard", verbosity=0)


def pull(source: RecordingSource) -> IngestRun:
    run = source_pull(source_id=source.id)
    assert run is not None
    return run


def test_odd_and_hostile_names_are_contained(
    source: RecordingSource, remote_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.wav"
    shutil.copy(DEMO_CALLS / f"{CALL}.mp3", outside)
    (remote_dir / "link_to_outside.mp3").symlink_to(outside)
    gbk_name = "录音_张三.mp3".encode("gbk")
    shutil.copy(os.fsencode(DEMO_CALLS / f"{CALL}.mp3"),
                os.path.join(os.fsencode(remote_dir), gbk_name))
    (remote_dir / "..sneaky.mp3").write_bytes((DEMO_CALLS / f"{CALL}.mp3").read_bytes() + b"1")
    (remote_dir / "bell\x07.mp3").write_bytes(b"x")

    run = pull(source)

    names = set(Recording.objects.values_list("original_name", flat=True))
    assert names == {"录音_张三.mp3", "..sneaky.mp3"}
    assert "link_to_outside.mp3" not in names
    assert run.failed == 0
    for recording in Recording.objects.all():
        stored = data_dir / recording.audio_file
        assert stored.resolve().is_relative_to(data_dir.resolve())
        assert stored.name.startswith(recording.sha256)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".wav") == ["outside.wav"]


def test_the_same_file_in_two_sources_is_stored_once(
    source: RecordingSource, copy_call: Callable[..., Path], remote_dir: Path
) -> None:
    (remote_dir / "site_b").mkdir()
    copy_call(CALL)
    shutil.copy(DEMO_CALLS / f"{CALL}.mp3", remote_dir / "site_b" / "copy.mp3")
    other = RecordingSource.objects.create(
        name="第二来源", host=source.host, port=source.port, username=source.username,
        password_ref=source.password_ref, host_key_fingerprint=source.host_key_fingerprint,
        remote_dir="/site_b", stable_seconds=0,
    )
    pull(source)
    run = pull(other)
    assert run.downloaded == 1
    assert Recording.objects.count() == 1
    ledger = SourceFile.objects.get(source=other)
    assert ledger.status == SourceFile.Status.DONE
    assert ledger.recording == Recording.objects.get()


def test_a_malformed_call_detail_sidecar_keeps_the_recording_with_a_warning(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    source.metadata_format = RecordingSource.MetadataFormat.CSV
    source.save()
    audio = copy_call(CALL, sidecar=False)
    audio.with_suffix(".csv").write_text('agent_id,call_id\n"A1023,broken\n', encoding="utf-8")
    pull(source)
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.FAILED  # no transcript, no ASR model
    assert recording.warnings and "无法读取" in recording.warnings[0]


def test_filename_pattern_and_csv_call_details_fill_the_call(
    source: RecordingSource, remote_dir: Path
) -> None:
    source.metadata_format = RecordingSource.MetadataFormat.CSV
    source.filename_pattern = (r"^(?P<queue>[a-z]+)_(?P<agent_id>A\d+)_(?P<started_at>\d{14})"
                               r"_(?P<customer_phone>\d+)")
    source.metadata_fields = {"call_id": "流水号", "direction": "呼叫方向"}
    source.save()
    stem = "card_A2007_20261118093012_13800001111"
    shutil.copy(DEMO_CALLS / f"{CALL}.mp3", remote_dir / f"{stem}.mp3")
    (remote_dir / f"{stem}.csv").write_text("流水号,呼叫方向\nCDR-77,呼入\n", encoding="gbk")
    pull(source)
    recording = Recording.objects.get()
    assert recording.call_id == "CDR-77"
    assert recording.direction == "inbound"
    assert recording.queue == "card"
    assert recording.customer_phone == "138****1111"  # PII_REDACTION: never stored whole
    assert recording.agent is not None and recording.agent.code == "A2007"
    assert timezone.localtime(recording.started_at).strftime("%Y%m%d%H%M%S") == "20261118093012"
    assert recording.warnings == []


@pytest.mark.parametrize("action", ["move", "delete"])
def test_the_original_is_moved_or_deleted_after_a_successful_download(
    source: RecordingSource, copy_call: Callable[..., Path], remote_dir: Path, action: str
) -> None:
    source.after_download = action
    source.processed_dir = "done/{date}"
    source.save()
    audio = copy_call(CALL, sidecar=False)
    run = pull(source)
    assert run.errors == []
    assert not audio.exists()
    moved = list((remote_dir / "done").rglob("*.mp3")) if action == "move" else []
    assert len(moved) == (1 if action == "move" else 0)
    assert Recording.objects.count() == 1


def test_a_failed_move_leaves_the_file_where_it_was_and_it_is_not_taken_twice(
    source: RecordingSource, copy_call: Callable[..., Path], remote_dir: Path
) -> None:
    source.after_download = RecordingSource.AfterDownload.MOVE
    source.processed_dir = "blocked"
    source.save()
    (remote_dir / "blocked").write_text("a file where the directory should be")
    audio = copy_call(CALL, sidecar=False)
    run = pull(source)
    assert audio.exists()
    assert run.errors and "下载后处理失败" in run.errors[0]["error"]
    assert Recording.objects.count() == 1
    assert pull(source).downloaded == 0


def test_non_audio_and_empty_files_are_rejected_with_reasons(
    source: RecordingSource, remote_dir: Path
) -> None:
    (remote_dir / "notes.wav").write_text("this is not audio")
    (remote_dir / "empty.wav").write_bytes(b"")
    pull(source)
    rejected = dict(Recording.objects.values_list("original_name", "error"))
    assert set(rejected) == {"notes.wav", "empty.wav"}
    assert all(rejected.values())
    assert set(SourceFile.objects.values_list("status", flat=True)) == {"rejected"}


def test_a_recording_over_the_limits_is_rejected_and_retryable_when_they_change(
    source: RecordingSource, copy_call: Callable[..., Path], settings: object
) -> None:
    settings.INGEST_MAX_DURATION_S = 30  # type: ignore[attr-defined]
    copy_call(CALL)
    pull(source)
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.REJECTED
    assert "超过上限" in recording.error
    assert pull(source).downloaded == 0, "a rejected file is not pulled again"

    settings.INGEST_MAX_DURATION_S = 3 * 3600  # type: ignore[attr-defined]
    assert recording_retry(recording_id=recording.id)
    recording.refresh_from_db()
    assert recording.status == Recording.Status.ANALYZED


def test_a_file_over_the_size_limit_is_not_downloaded_until_retried(
    source: RecordingSource, copy_call: Callable[..., Path], settings: object
) -> None:
    settings.INGEST_MAX_BYTES = 1000  # type: ignore[attr-defined]
    copy_call(CALL, sidecar=False)
    run = pull(source)
    assert run.downloaded == 0
    entry = SourceFile.objects.get()
    assert entry.status == SourceFile.Status.REJECTED and "超过上限" in entry.error
    settings.INGEST_MAX_BYTES = 2 * 1024**3  # type: ignore[attr-defined]
    assert pull(source).downloaded == 0
    assert source_file_retry(source_file_id=entry.id)
    assert pull(source).downloaded == 1


def test_purged_content_is_never_taken_again(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    audio = copy_call(CALL, sidecar=False)
    Tombstone.objects.create(sha256=hashlib.sha256(audio.read_bytes()).hexdigest(),
                             reason="保留期满")
    run = pull(source)
    assert Recording.objects.count() == 0
    assert SourceFile.objects.get().status == SourceFile.Status.DONE
    assert run.failed == 0


def test_a_local_folder_source_takes_files_and_ignores_links(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    (folder / "2026-11-18").mkdir(parents=True)
    shutil.copy(DEMO_CALLS / f"{CALL}.mp3", folder / "2026-11-18" / "a.mp3")
    shutil.copy(DEMO_CALLS / f"{CALL}.json", folder / "2026-11-18" / "a.json")
    (folder / "escape.mp3").symlink_to("/etc/passwd")
    source = RecordingSource.objects.create(
        name="本机目录", kind=RecordingSource.Kind.LOCAL, remote_dir=str(folder),
        recursive=True, stable_seconds=0, after_download=RecordingSource.AfterDownload.MOVE,
    )
    run = pull(source)
    assert (run.downloaded, run.failed) == (1, 0), run.errors
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.ANALYZED
    assert recording.remote_path == "2026-11-18/a.mp3"
    assert not (folder / "2026-11-18" / "a.mp3").exists()
    assert list((folder / "processed").iterdir())


def test_sources_are_due_by_their_own_cron_schedule(db: None) -> None:
    now = timezone.make_aware(datetime(2026, 11, 18, 10, 7))
    every_ten = RecordingSource.objects.create(
        name="a", kind="local", remote_dir="/tmp", schedule="*/10 * * * *",
        last_pulled_at=now - timedelta(minutes=8))
    nightly = RecordingSource.objects.create(
        name="b", kind="local", remote_dir="/tmp", schedule="0 2 * * *",
        last_pulled_at=now - timedelta(hours=3))
    never = RecordingSource.objects.create(name="c", kind="local", remote_dir="/tmp")
    RecordingSource.objects.create(name="d", kind="local", remote_dir="/tmp", enabled=False)
    assert set(sources_due(now=now)) == {every_ten.id, never.id}
    assert nightly.id in sources_due(now=now + timedelta(hours=16))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"host": ""}, "host"),
        ({"host_key_fingerprint": "aa:bb:cc"}, "host_key_fingerprint"),
        ({"password_ref": "hunter2"}, "password_ref"),
        ({"filename_pattern": "(?P<agent>x)"}, "filename_pattern"),
        ({"filename_pattern": "("}, "filename_pattern"),
        ({"schedule": "every ten minutes"}, "schedule"),
        ({"after_download": "move", "processed_dir": "../out"}, "processed_dir"),
        ({"metadata_fields": {"nonsense": "x"}}, "metadata_fields"),
        ({"max_transfers": 0}, "max_transfers"),
    ],
)
def test_a_misconfigured_source_is_refused_with_the_field_named(
    source: RecordingSource, changes: dict[str, object], field: str
) -> None:
    for name, value in changes.items():
        setattr(source, name, value)
    with pytest.raises(ValidationError) as error:
        source.full_clean()
    assert field in error.value.message_dict


def test_files_moved_aside_on_a_recursive_source_are_not_taken_again(
    source: RecordingSource, copy_call: Callable[..., Path], remote_dir: Path
) -> None:
    source.recursive = True
    source.after_download = RecordingSource.AfterDownload.MOVE
    source.processed_dir = "processed/{date}"
    source.save()
    copy_call(CALL, sidecar=False)
    assert pull(source).downloaded == 1
    assert list((remote_dir / "processed").rglob("*.mp3"))
    run = pull(source)
    assert (run.listed, run.new, run.downloaded) == (1, 0, 0)


def test_sidecars_follow_their_recording_when_it_is_moved(
    source: RecordingSource, copy_call: Callable[..., Path], remote_dir: Path
) -> None:
    source.after_download = RecordingSource.AfterDownload.MOVE
    source.processed_dir = "done"
    source.save()
    copy_call(CALL)
    pull(source)
    assert sorted(p.name for p in (remote_dir / "done").iterdir()) == [
        f"{CALL}.json", f"{CALL}.mp3"]
    assert not list(remote_dir.glob(f"{CALL}.*"))

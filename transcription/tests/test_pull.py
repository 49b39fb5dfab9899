"""Pulling from a real SFTP server on 127.0.0.1 through the whole slice (tasks in-process)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from analytics.models import Hit
from transcription.models import IngestRun, Recording, RecordingSource, Segment
from transcription.services.recordings import recording_retry
from transcription.services.sources import source_pull
from transcription.storage import absolute_path

pytestmark = pytest.mark.django_db(transaction=True)

CALL = "call_01_annual_fee_refund"
OTHER = "call_06_wealth_pitch_guaranteed_return"


@pytest.fixture(autouse=True)
def rules(db: None) -> None:
    from django.core.management import call_command

    call_command("load_rulepack", "standard", verbosity=0)


def test_it_pulls_transcribes_and_analyzes_a_new_call(
    source: RecordingSource, copy_call: Callable[..., Path], data_dir: Path
) -> None:
    remote = copy_call(CALL)
    run = pull(source)

    assert (run.status, run.listed, run.new, run.downloaded, run.failed) == (
        IngestRun.Status.SUCCEEDED, 2, 1, 1, 0)
    recording = Recording.objects.get()
    assert recording.sha256 == hashlib.sha256(remote.read_bytes()).hexdigest()
    assert recording.status == Recording.Status.ANALYZED, recording.error
    assert (recording.codec, recording.channels, recording.sample_rate) == ("mp3", 2, 8000)
    stored = absolute_path(recording.audio_file)
    assert stored.is_relative_to(data_dir)
    assert stored.name == f"{recording.sha256}.mp3"
    assert stored.read_bytes() == remote.read_bytes()
    assert recording.transcript.engine == "sidecar"
    assert recording.agent is not None and recording.agent.code == "A1023"
    assert recording.hits.filter(rule__key="refund_request").exists()
    assert not list((data_dir / "incoming").iterdir()), "no temporary file may be left behind"


def test_a_hit_records_its_segment_span_and_time(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    copy_call(OTHER)
    pull(source)
    hit = Hit.objects.filter(rule__key="prohibited_promise").select_related("segment").first()
    assert hit is not None
    assert hit.segment is not None and hit.segment.role == "agent"
    for evidence in hit.evidence:
        segment = Segment.objects.get(id=evidence["segment_id"])
        assert segment.text[evidence["char_start"]:evidence["char_end"]] == evidence["text"]
        assert segment.start_ms <= evidence["start_ms"] <= evidence["end_ms"] <= segment.end_ms
    first = hit.evidence[0]
    assert (hit.segment_id, hit.start_ms, hit.matched_text) == (
        first["segment_id"], first["start_ms"], first["text"])


def test_a_second_pull_skips_files_it_already_has(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    copy_call(CALL)
    pull(source)
    run = pull(source)
    assert (run.new, run.downloaded, run.skipped) == (0, 0, 1)
    assert Recording.objects.count() == 1


def test_the_same_content_under_another_name_is_stored_once(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    copy_call(CALL)
    copy_call(CALL, as_name="copy_of_the_same_call")
    pull(source)
    assert Recording.objects.count() == 1


def test_a_file_that_is_not_audio_is_rejected_with_a_reason_and_the_rest_go_on(
    source: RecordingSource, copy_call: Callable[..., Path], remote_dir: Path
) -> None:
    (remote_dir / "broken.wav").write_text("this is not audio at all")
    copy_call(CALL)
    run = pull(source)
    assert run.downloaded == 2
    rejected = Recording.objects.get(original_name="broken.wav")
    assert rejected.status == Recording.Status.REJECTED
    assert rejected.error
    assert Recording.objects.get(original_name=f"{CALL}.mp3").status == Recording.Status.ANALYZED
    # A rejected file is known: the next pull does not take it again.
    assert pull(source).skipped == 2


def test_a_sidecar_that_is_not_json_fails_that_call_only_and_can_be_retried(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    broken = copy_call(CALL)
    broken.with_suffix(".json").write_text("{ not json", encoding="utf-8")
    copy_call(OTHER)
    pull(source)

    failed = Recording.objects.get(original_name=f"{CALL}.mp3")
    assert failed.status == Recording.Status.FAILED
    assert failed.failed_stage == Recording.Stage.TRANSCRIBE
    assert "不是有效的 JSON" in failed.error
    assert Recording.objects.get(original_name=f"{OTHER}.mp3").status == Recording.Status.ANALYZED

    # The operator fixes the stored sidecar and retries: the call goes all the way through.
    from conftest import DEMO_CALLS

    absolute_path(failed.sidecar_file).write_bytes((DEMO_CALLS / f"{CALL}.json").read_bytes())
    assert recording_retry(recording_id=failed.id)
    failed.refresh_from_db()
    assert failed.status == Recording.Status.ANALYZED


def test_an_unreachable_source_keeps_a_clear_reason(
    source: RecordingSource, sftp_server: object
) -> None:
    source.port = _closed_port()
    source.save()
    run = pull(source)
    source.refresh_from_db()
    assert run.status == IngestRun.Status.FAILED
    assert "127.0.0.1" in source.last_error
    assert Recording.objects.count() == 0


def test_a_changed_host_key_refuses_the_connection(
    source: RecordingSource, copy_call: Callable[..., Path]
) -> None:
    copy_call(CALL)
    source.host_key_fingerprint = "SHA256:" + "A" * 43
    source.save()
    run = pull(source)
    source.refresh_from_db()
    assert run.status == IngestRun.Status.FAILED
    assert "SHA256:" in source.last_error
    assert Recording.objects.count() == 0


def test_a_missing_password_variable_is_reported_without_connecting(
    source: RecordingSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QA_TEST_SFTP_PASSWORD")
    pull(source)
    source.refresh_from_db()
    assert "QA_TEST_SFTP_PASSWORD" in source.last_error


def test_the_secret_itself_is_never_stored(source: RecordingSource) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM transcription_recordingsource")
        row = cursor.fetchone()
    assert "pull-test-password" not in repr(row)


def pull(source: RecordingSource) -> IngestRun:
    run = source_pull(source_id=source.id)
    assert run is not None, "the source's pull lease was free"
    return run


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_running_pull_shows_its_progress_on_the_pipeline_page(
    source: RecordingSource, copy_call: Callable[..., Path], client: Any, org: dict[str, Any],
) -> None:
    copy_call(CALL)
    copy_call(OTHER)
    seen: list[tuple[str, int, int]] = []

    def progress(run: IngestRun, remaining: int) -> None:
        stored = IngestRun.objects.get(id=run.id)
        seen.append((stored.status, stored.ready, remaining))

    run = source_pull(source_id=source.id, progress=progress)
    assert run is not None and run.ready == 2
    # While it ran, the stored run already said how many files it was taking.
    assert seen[0][:2] == (IngestRun.Status.RUNNING, 2)
    IngestRun.objects.filter(id=run.id).update(status=IngestRun.Status.RUNNING, downloaded=1,
                                               failed=0)  # fmt: skip
    client.force_login(org["admin"])
    page = client.get("/pipeline/").content.decode()
    assert 'style="width: 50%"' in page and "1 / 2" in page

"""Faults a nightly batch meets, each against a real SFTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F

from conftest import REPO
from transcription.models import IngestRun, Recording, RecordingSource, SourceFile
from transcription.services.sources import (
    source_lock_acquire,
    source_lock_release,
    source_pull,
)
from transcription.sftp import host_key_fingerprint

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD_ENV = "QA_TEST_SFTP_PASSWORD"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """The SFTP server as a separate process, so a test can kill it like a crash would."""

    def __init__(self, root: Path, key: Path, port: int) -> None:
        self.root, self.key, self.port = root, key, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "transcription.demo_sftp", str(self.root), "--port",
             str(self.port), "--user", "recorder", "--password-env", PASSWORD_ENV,
             "--host-key", str(self.key)],
            cwd=REPO, env={**os.environ, PASSWORD_ENV: "pull-test-password"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the SFTP server process did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def server_process(tmp_path: Path, remote_dir: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    monkeypatch.setenv(PASSWORD_ENV, "pull-test-password")
    server = ServerProcess(remote_dir, tmp_path / "host_key", free_port())
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


def make_source(server: ServerProcess, **extra: object) -> RecordingSource:
    public = server.key.with_name(server.key.name + ".pub")
    fingerprint = host_key_fingerprint(public if public.exists() else server.key)
    return RecordingSource.objects.create(
        name=f"source-{server.port}", host="127.0.0.1", port=server.port, username="recorder",
        password_ref=f"env:{PASSWORD_ENV}", host_key_fingerprint=fingerprint, remote_dir="/",
        stable_seconds=0, **extra,
    )


def test_a_server_killed_mid_pull_loses_nothing_and_the_next_run_completes(
    server_process: ServerProcess, remote_dir: Path, data_dir: Path
) -> None:
    expected = {}
    for n in range(30):
        content = os.urandom(3 * 1024 * 1024)
        (remote_dir / f"call_{n:02d}.wav").write_bytes(content)
        expected[f"call_{n:02d}.wav"] = hashlib.sha256(content).hexdigest()
    source = make_source(server_process)

    import threading

    first: list[IngestRun | None] = []
    puller = threading.Thread(target=lambda: first.append(source_pull(source_id=source.id)))
    puller.start()
    deadline = time.monotonic() + 60
    while not SourceFile.objects.filter(status__in=["done", "rejected"]).exists():
        assert time.monotonic() < deadline, "nothing arrived before the kill"
        time.sleep(0.01)
    server_process.kill()
    puller.join(timeout=120)
    run = first[0]
    assert run is not None
    assert run.failed > 0 or run.status == IngestRun.Status.FAILED, "the kill came too late"
    assert not [p for p in (data_dir / "incoming").iterdir() if p.name.startswith(".part-")]

    server_process.start()
    second = source_pull(source_id=source.id)
    assert second is not None and second.failed == 0, second.errors if second else None
    stored = dict(Recording.objects.values_list("original_name", "sha256"))
    assert stored == expected


def test_a_file_still_being_written_is_taken_only_once_it_is_stable(
    source: RecordingSource, remote_dir: Path
) -> None:
    source.stable_seconds = 30
    source.save()
    growing = remote_dir / "recording_in_progress.wav"
    growing.write_bytes(b"RIFF" + os.urandom(1000))

    def seconds_pass(seconds: int) -> None:
        SourceFile.objects.update(stable_since=F("stable_since") - timedelta(seconds=seconds))

    run = source_pull(source_id=source.id)
    assert run is not None and (run.new, run.waiting, run.downloaded) == (1, 1, 0)
    seconds_pass(10)
    with growing.open("ab") as f:
        f.write(os.urandom(1000))  # the recorder is still writing
    seconds_pass(25)
    run = source_pull(source_id=source.id)
    assert run is not None and (run.waiting, run.downloaded) == (1, 0), "its clock restarted"
    seconds_pass(31)
    run = source_pull(source_id=source.id)
    assert run is not None and run.downloaded == 1
    recording = Recording.objects.get()
    assert recording.size_bytes == 2004


def test_a_thousand_files_in_one_run_all_arrive(source: RecordingSource, remote_dir: Path) -> None:
    if connection.vendor != "postgresql" and os.environ.get("QA_REQUIRE_SERVICES") != "1":
        # A minute of ffprobe runs: CI runs it once, in the PostgreSQL pass.
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL)")
    source.max_transfers = 4
    source.save()
    for n in range(1000):
        (remote_dir / f"r{n:04d}.wav").write_bytes(n.to_bytes(4, "big") * 64)
    run = source_pull(source_id=source.id)
    assert run is not None
    assert (run.listed, run.new, run.downloaded, run.failed) == (1000, 1000, 1000, 0)
    assert Recording.objects.count() == 1000
    assert SourceFile.objects.exclude(status="rejected").count() == 0, "none of them is audio"
    again = source_pull(source_id=source.id)
    assert again is not None and (again.new, again.downloaded, again.skipped) == (0, 0, 1000)


def test_only_one_pull_of_a_source_runs_at_a_time(source: RecordingSource) -> None:
    assert source_lock_acquire(source_id=source.id, owner="another worker")
    assert source_pull(source_id=source.id) is None
    assert IngestRun.objects.count() == 0
    source_lock_release(source_id=source.id, owner="another worker")
    assert source_pull(source_id=source.id) is not None


def test_the_lease_of_a_crashed_worker_expires(source: RecordingSource, settings: object) -> None:
    assert source_lock_acquire(source_id=source.id, owner="crashed worker")
    RecordingSource.objects.filter(id=source.id).update(
        lock_expires_at=F("lock_expires_at") - timedelta(hours=1)
    )
    run = source_pull(source_id=source.id)
    assert run is not None and run.status == IngestRun.Status.SUCCEEDED
    source.refresh_from_db()
    assert not source.is_pulling()

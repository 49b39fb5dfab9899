"""Stored failure reasons stay the Chinese text they always were, and read in English on request.

Each reason is made by the code path that stores it (registration, the SFTP client) and shown
through `qa_platform.i18n.localized`, the way the pipeline and call pages show it. The English
comes from the compiled catalog (locale/en), which holds the `msg(...)` templates.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from django.test import Client

from qa_i18n import msg
from qa_platform.tests.languages import chinese, english
from transcription.asr.base import TranscriptionError
from transcription.asr.funasr_models import check_model_dir, oom_as_error
from transcription.demo_sftp import LocalSftpServer
from transcription.models import IngestRun, Recording, RecordingSource, SourceFile
from transcription.services.registration import recording_register
from transcription.sftp import HostKeyMismatchError, SftpSession, SftpTarget
from transcription.storage import incoming_dir

USER = "demo"
PASSWORD = "correct horse battery staple"


def register(data: bytes, name: str) -> Recording:
    """A file registered the way every source registers one; the recording as stored."""
    temp = incoming_dir() / f".test-{name}"
    temp.write_bytes(data)
    registration = recording_register(
        temp_path=temp, sha256=hashlib.sha256(data).hexdigest(), size=len(data), original_name=name
    )
    return Recording.objects.get(id=registration.recording.id)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalSftpServer]:
    root = tmp_path / "served"
    root.mkdir()
    (root / "a b.mp3").write_bytes(os.urandom(4 * 1024 * 1024))
    with LocalSftpServer(
        root, username=USER, password=PASSWORD, host_key_path=tmp_path / "host_key"
    ) as running:
        yield running


def target_for(server: LocalSftpServer, fingerprint: str | None = None) -> SftpTarget:
    return SftpTarget(
        host="127.0.0.1",
        port=server.port,
        username=USER,
        host_key_fingerprint=fingerprint or server.host_key_fingerprint,
        remote_dir="/",
        password=PASSWORD,
        connect_timeout_s=5,
    )


@pytest.mark.django_db
def test_a_file_that_is_not_audio_is_rejected_with_a_reason_that_reads_in_english() -> None:
    recording = register(b"this is not a recording\n" * 20, "notes.mp3")

    assert recording.status == Recording.Status.REJECTED
    found = re.fullmatch(r"无法识别的音频文件：(.+)", recording.error)
    assert found is not None, recording.error
    assert chinese(recording.error) == recording.error
    assert english(recording.error) == f"Unrecognised audio file: {found[1]}"


@pytest.mark.django_db
def test_an_empty_file_is_rejected_with_a_reason_that_reads_in_english() -> None:
    recording = register(b"", "empty.wav")

    assert recording.status == Recording.Status.REJECTED
    assert recording.error == "文件为空，不是有效的音频"
    assert chinese(recording.error) == "文件为空，不是有效的音频"
    assert english(recording.error) == "The file is empty, not valid audio"


@pytest.mark.timeout(30)
def test_a_host_key_mismatch_reads_in_english_with_both_fingerprints(
    server: LocalSftpServer,
) -> None:
    pinned = asyncssh.generate_private_key("ssh-ed25519").get_fingerprint("sha256")
    where = f"127.0.0.1:{server.port}"

    with pytest.raises(HostKeyMismatchError) as excinfo, SftpSession(target_for(server, pinned)):
        pass

    text = str(excinfo.value)
    assert text == (
        f"SFTP 服务器 {where} 的主机公钥与配置不符，已拒绝连接："
        f"期望 {pinned}，实际 {server.host_key_fingerprint}"
    )
    assert chinese(text) == text
    assert english(text) == (
        f"The host key of SFTP server {where} does not match the configured one, "
        f"connection refused: expected {pinned}, got {server.host_key_fingerprint}"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A refused move after download: three messages deep, the server's words innermost.
        (
            msg(
                "下载后处理失败：{error}",
                error=msg(
                    "无法将远程文件 {path} 移动到 {location}：{reason}",
                    path="录音 01/a b.wav",
                    location="已处理/录音 01/a b.wav 10.0.0.5:22",
                    reason=msg("没有权限（{reason}）", reason="Permission denied"),
                ),
            ),
            "Handling the file after download failed: Cannot move remote file 录音 01/a b.wav "
            "to 已处理/录音 01/a b.wav 10.0.0.5:22: Permission denied (Permission denied)",
        ),
        (
            msg(
                "随附话单 {name} 无法读取：{error}",
                name="a b.csv",
                error=msg("话单 CSV 应有表头和一行数据，实际 {rows} 行", rows=2),
            ),
            "Cannot read the accompanying call-detail file a b.csv: "
            "The call-detail CSV should have a header and one data row; it has 2 rows",
        ),
    ],
    ids=["moved-after-download", "call-details-sidecar"],
)
def test_a_reason_inside_a_reason_translates_at_every_level(text: str, expected: str) -> None:
    assert chinese(text) == text
    assert english(text) == expected


def test_a_word_passed_into_a_message_translates_with_it(tmp_path: Path) -> None:
    with pytest.raises(TranscriptionError) as missing:
        check_model_dir(tmp_path / "nowhere", msg("VAD "))
    assert str(missing.value) == f"VAD 模型目录不存在：{tmp_path / 'nowhere'}"
    assert english(str(missing.value)) == (
        f"The VAD model directory does not exist: {tmp_path / 'nowhere'}"
    )

    with pytest.raises(TranscriptionError) as oom, oom_as_error(msg("标点")):
        raise RuntimeError("CUDA out of memory")
    assert str(oom.value) == "显存不足：标点阶段内存耗尽"
    assert english(str(oom.value)) == (
        "Not enough GPU memory: ran out of memory in the punctuation phase"
    )


@pytest.mark.django_db
def test_the_pipeline_page_shows_stored_reasons_in_the_readers_language(
    client: Client, org: dict[str, Any], settings: Any
) -> None:
    dropped = msg(
        "下载远程文件 {path} 失败 {where}：{reason}",
        path="a.wav",
        where="10.0.0.8:22",
        reason=msg("连接已断开（{reason}）", reason="Connection lost"),
    )
    source = RecordingSource.objects.create(
        name="录音服务器",
        host="10.0.0.8",
        username="rec",
        password_ref="env:X",
        host_key_fingerprint="SHA256:" + "A" * 43,
        last_error=msg("环境变量 {name} 未设置", name="SFTP_PASSWORD"),
    )
    IngestRun.objects.create(
        source=source,
        status=IngestRun.Status.PARTIAL,
        failed=1,
        errors=[{"path": "a.wav", "error": dropped}],
    )
    SourceFile.objects.create(
        source=source,
        path="a.wav",
        path_key="k" * 64,
        raw_path=b"a.wav",
        size=1,
        mtime=0,
        status=SourceFile.Status.FAILED,
        error=dropped,
    )
    Recording.objects.create(
        sha256="c" * 64,
        size_bytes=1,
        audio_file="x.mp3",
        agent=org["agent1"],
        status=Recording.Status.REJECTED,
        failed_stage=Recording.Stage.INGEST,
        error=msg("音频时长为 0"),
        call_id="CALL-c",
    )
    client.force_login(org["admin"])

    chinese_page = client.get("/pipeline/").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english_page = client.get("/pipeline/").content.decode()

    in_english = "Downloading remote file a.wav from 10.0.0.8:22 failed: Connection lost ("
    assert "环境变量 SFTP_PASSWORD 未设置" in chinese_page
    assert "音频时长为 0" in chinese_page
    assert chinese_page.count(dropped) == 2  # the run's errors and the file's reason
    assert "Environment variable SFTP_PASSWORD is not set" in english_page
    assert "The audio is 0 seconds long" in english_page
    assert english_page.count(f"{in_english}Connection lost)") == 2
    assert "下载远程文件" not in english_page

"""SFTP client facade and demo server, exercised against a real asyncssh server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from qa_platform.tests.languages import chinese, english
from transcription.demo_sftp import LocalSftpServer, _ConfinedSftpServer
from transcription.sftp import (
    HostKeyMismatchError,
    RemoteFile,
    SftpError,
    SftpSession,
    SftpTarget,
    host_key_fingerprint,
)

# A hang must fail fast instead of eating the suite-wide 600 s timeout.
pytestmark = pytest.mark.timeout(30)

USER = "demo"
PASSWORD = "correct horse battery staple"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    served = tmp_path / "served"
    served.mkdir()
    return served


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    return downloads


@pytest.fixture
def server(root: Path, tmp_path: Path) -> Iterator[LocalSftpServer]:
    with LocalSftpServer(
        root, username=USER, password=PASSWORD, host_key_path=tmp_path / "host_key"
    ) as running:
        yield running


def target_for(server: LocalSftpServer, **overrides: object) -> SftpTarget:
    target = SftpTarget(
        host="127.0.0.1",
        port=server.port,
        username=USER,
        host_key_fingerprint=server.host_key_fingerprint,
        remote_dir="/",
        password=PASSWORD,
        connect_timeout_s=5,
    )
    return replace(target, **overrides)  # type: ignore[arg-type]


def write(path: Path, data: bytes, mtime: int = 1_700_000_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- listing ---------------------------------------------------------------------------------


def test_it_lists_regular_files_with_size_and_mtime_without_recursing(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "b.mp3", b"bbbb", mtime=1_700_000_200)
    write(root / "a.mp3", b"a", mtime=1_700_000_100)
    write(root / "2026" / "11" / "deep.mp3", b"deep")

    with SftpSession(target_for(server)) as session:
        files = session.list_files()

    assert files == [
        RemoteFile(path="a.mp3", size=1, mtime=1_700_000_100, raw_path=b"a.mp3"),
        RemoteFile(path="b.mp3", size=4, mtime=1_700_000_200, raw_path=b"b.mp3"),
    ]


def test_it_lists_nested_files_as_relative_posix_paths_when_recursive(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "a.mp3", b"a")
    write(root / "2026" / "11" / "deep.mp3", b"deep", mtime=1_700_000_300)
    write(root / "2026" / "12" / "x.wav", b"xx")
    (root / "empty").mkdir()

    with SftpSession(target_for(server)) as session:
        files = session.list_files(recursive=True)

    assert [f.path for f in files] == ["2026/11/deep.mp3", "2026/12/x.wav", "a.mp3"]
    assert files[0] == RemoteFile(
        path="2026/11/deep.mp3", size=4, mtime=1_700_000_300, raw_path=b"2026/11/deep.mp3"
    )


def test_it_lists_paths_relative_to_a_nested_remote_dir(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "calls" / "2026" / "a.mp3", b"a")
    write(root / "other.mp3", b"o")

    with SftpSession(target_for(server, remote_dir="/calls")) as session:
        files = session.list_files(recursive=True)

    assert [f.path for f in files] == ["2026/a.mp3"]


def test_it_skips_symlinks_to_files_and_directories_inside_and_outside_the_root(
    server: LocalSftpServer, root: Path, tmp_path: Path
) -> None:
    write(root / "real.mp3", b"real")
    outside = write(tmp_path / "outside" / "secret.mp3", b"secret")
    (root / "escape.mp3").symlink_to(outside)
    (root / "alias.mp3").symlink_to(root / "real.mp3")
    (root / "escape-dir").symlink_to(outside.parent, target_is_directory=True)

    with SftpSession(target_for(server)) as session:
        flat = session.list_files()
        deep = session.list_files(recursive=True)

    assert [f.path for f in flat] == ["real.mp3"]
    assert [f.path for f in deep] == ["real.mp3"]


def write_raw(directory: Path, raw_name: bytes, data: bytes, mtime: int = 1_700_000_000) -> bytes:
    """Create a file whose name is exactly `raw_name` (possibly not UTF-8); return its path."""
    path = os.path.join(os.fsencode(directory), raw_name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.utime(path, (mtime, mtime))
    return path


GBK_NAME = "录音_张三.wav".encode("gbk")


def test_it_skips_names_with_control_characters_and_warns(
    server: LocalSftpServer, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(root / "good 录音.mp3", b"ok")
    write(root / "new\nline.mp3", b"x")
    write(root / "bell\x07.mp3", b"x")
    write(root / "del\x7f.mp3", b"x")
    write(root / "dir\x1b" / "inside.mp3", b"x")
    write_raw(root, "张三".encode("gbk") + b"\x01.wav", b"x")

    with (
        caplog.at_level(logging.WARNING, logger="transcription.sftp"),
        SftpSession(target_for(server)) as session,
    ):
        files = session.list_files(recursive=True)

    assert [f.path for f in files] == ["good 录音.mp3"]
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 5


def test_it_lists_and_downloads_a_gbk_named_file_by_its_exact_bytes(
    server: LocalSftpServer, root: Path, dest: Path
) -> None:
    payload = os.urandom(700_000)
    write_raw(root, GBK_NAME, payload, mtime=1_700_000_400)

    with SftpSession(target_for(server)) as session:
        (remote,) = session.list_files()
        downloaded = session.download(remote, dest)

    assert remote == RemoteFile(
        path="录音_张三.wav", size=len(payload), mtime=1_700_000_400, raw_path=GBK_NAME
    )
    assert downloaded.local_path.read_bytes() == payload
    assert downloaded.sha256 == hashlib.sha256(payload).hexdigest()


def test_it_decodes_each_path_component_on_its_own_when_recursive(
    server: LocalSftpServer, root: Path
) -> None:
    # A UTF-8 directory holding a GBK file, and a GBK directory holding a UTF-8 file.
    write_raw(root, "坐席".encode() + b"/" + GBK_NAME, b"a")
    write_raw(root, "张三".encode("gbk") + b"/" + "录音.wav".encode(), b"b")

    with SftpSession(target_for(server)) as session:
        files = session.list_files(recursive=True)

    assert {f.path: f.raw_path for f in files} == {
        "坐席/录音_张三.wav": "坐席".encode() + b"/" + GBK_NAME,
        "张三/录音.wav": "张三".encode("gbk") + b"/" + "录音.wav".encode(),
    }


def test_it_lists_a_name_invalid_in_utf8_and_gb18030_escaped_and_still_downloads_it(
    server: LocalSftpServer, root: Path, dest: Path
) -> None:
    raw = b"bad-\xff\xe9.wav"
    write_raw(root, raw, b"payload")

    with SftpSession(target_for(server)) as session:
        (remote,) = session.list_files()
        downloaded = session.download(remote, dest)

    assert remote.path == "bad-\\xff\\xe9.wav"
    assert remote.raw_path == raw
    assert downloaded.local_path.read_bytes() == b"payload"
    assert downloaded.local_path.parent == dest  # the display path never becomes a local path


def test_it_keeps_two_files_whose_names_display_the_same_and_warns(
    server: LocalSftpServer, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_raw(root, "录音.wav".encode(), b"utf8")
    write_raw(root, "录音.wav".encode("gbk"), b"gbk")

    with (
        caplog.at_level(logging.WARNING, logger="transcription.sftp"),
        SftpSession(target_for(server)) as session,
    ):
        files = session.list_files()

    assert [f.path for f in files] == ["录音.wav", "录音.wav"]
    assert {f.raw_path for f in files} == {"录音.wav".encode(), "录音.wav".encode("gbk")}
    assert any("share the display path" in r.getMessage() for r in caplog.records)


# -- downloading -----------------------------------------------------------------------------


def test_it_downloads_exact_bytes_and_sha256_into_a_part_file_in_dest_dir(
    server: LocalSftpServer, root: Path, dest: Path
) -> None:
    # Several read blocks plus a ragged tail, so the pipelined in-order reassembly is exercised.
    payload = os.urandom(3 * 1024 * 1024 + 17)
    write(root / "2026" / "call.mp3", payload)

    with SftpSession(target_for(server)) as session:
        (remote,) = session.list_files(recursive=True)
        downloaded = session.download(remote, dest)

    assert downloaded.local_path.parent == dest
    assert downloaded.local_path.name.startswith(".part-")
    assert "call" not in downloaded.local_path.name
    assert downloaded.size == len(payload)
    assert downloaded.sha256 == hashlib.sha256(payload).hexdigest()
    assert downloaded.local_path.read_bytes() == payload
    assert list(dest.iterdir()) == [downloaded.local_path]


def test_it_downloads_an_empty_file(server: LocalSftpServer, root: Path, dest: Path) -> None:
    write(root / "silent.wav", b"")

    with SftpSession(target_for(server)) as session:
        (remote,) = session.list_files()
        downloaded = session.download(remote, dest)

    assert downloaded.size == 0
    assert downloaded.sha256 == hashlib.sha256(b"").hexdigest()
    assert downloaded.local_path.read_bytes() == b""


@pytest.mark.parametrize("size_delta", [-1, +1], ids=["remote-larger", "remote-smaller"])
def test_it_rejects_a_download_whose_size_does_not_match_and_leaves_no_temp_file(
    server: LocalSftpServer, root: Path, dest: Path, size_delta: int
) -> None:
    write(root / "a.mp3", os.urandom(300_000))
    wrong = RemoteFile(path="a.mp3", size=300_000 + size_delta, mtime=0)

    with SftpSession(target_for(server)) as session, pytest.raises(SftpError, match=r"a\.mp3"):
        session.download(wrong, dest)

    assert list(dest.iterdir()) == []


def test_it_reports_a_missing_remote_file_and_leaves_no_temp_file(
    server: LocalSftpServer, dest: Path
) -> None:
    with SftpSession(target_for(server)) as session, pytest.raises(SftpError, match=r"gone\.mp3"):
        session.download(RemoteFile(path="gone.mp3", size=1, mtime=0), dest)

    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "a/../../b", "", "a\nb"])
def test_it_refuses_remote_paths_that_could_escape_remote_dir(
    server: LocalSftpServer, dest: Path, path: str
) -> None:
    with SftpSession(target_for(server)) as session, pytest.raises(SftpError, match="不安全"):
        session.download(RemoteFile(path=path, size=1, mtime=0), dest)

    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    "raw_path", [b"../etc/passwd", b"/etc/passwd", b"a/../../b", b"a//b", b"a\x00b", b"a/\x1b"]
)
def test_it_refuses_raw_paths_that_could_escape_remote_dir_whatever_the_display_path(
    server: LocalSftpServer, root: Path, dest: Path, raw_path: bytes
) -> None:
    write(root / "ok.mp3", b"x")
    remote = RemoteFile(path="ok.mp3", size=1, mtime=0, raw_path=raw_path)

    with SftpSession(target_for(server)) as session:
        for operation in (
            lambda: session.download(remote, dest),
            lambda: session.stat(remote),
            lambda: session.rename(remote, "processed"),
            lambda: session.remove(remote),
        ):
            with pytest.raises(SftpError, match="不安全"):
                operation()

    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in root.iterdir()) == ["ok.mp3"]


def test_the_demo_server_refuses_to_serve_a_symlink_that_points_outside_its_root(
    server: LocalSftpServer, root: Path, tmp_path: Path, dest: Path
) -> None:
    outside = write(tmp_path / "outside.mp3", b"secret")
    (root / "escape.mp3").symlink_to(outside)

    with SftpSession(target_for(server)) as session, pytest.raises(SftpError):
        session.download(RemoteFile(path="escape.mp3", size=6, mtime=0), dest)

    assert list(dest.iterdir()) == []


# -- stat, rename, remove --------------------------------------------------------------------


def test_stat_returns_fresh_size_and_mtime(server: LocalSftpServer, root: Path) -> None:
    write(root / "a.mp3", b"a", mtime=1_700_000_000)

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        write(root / "a.mp3", b"grown", mtime=1_700_000_500)
        fresh = session.stat(listed)

    assert fresh == RemoteFile(path="a.mp3", size=5, mtime=1_700_000_500, raw_path=b"a.mp3")


def test_stat_uses_the_raw_path(server: LocalSftpServer, root: Path) -> None:
    write_raw(root, GBK_NAME, b"abc", mtime=1_700_000_600)

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        assert session.stat(listed) == listed


def test_stat_of_a_vanished_file_raises(server: LocalSftpServer, root: Path) -> None:
    write(root / "a.mp3", b"a")

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        (root / "a.mp3").unlink()
        with pytest.raises(SftpError, match=r"a\.mp3.*不存在"):
            session.stat(listed)


@pytest.mark.parametrize("replacement", ["directory", "symlink"])
def test_stat_of_a_file_that_is_no_longer_a_regular_file_raises(
    server: LocalSftpServer, root: Path, replacement: str
) -> None:
    write(root / "a.mp3", b"a")
    write(root / "other.mp3", b"other")

    with SftpSession(target_for(server)) as session:
        listed = session.list_files()[0]
        (root / "a.mp3").unlink()
        if replacement == "directory":
            (root / "a.mp3").mkdir()
        else:
            (root / "a.mp3").symlink_to(root / "other.mp3")
        with pytest.raises(SftpError, match="不是普通文件"):
            session.stat(listed)


def test_rename_moves_a_file_into_a_new_nested_directory(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "in" / "a.mp3", b"payload")

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files(recursive=True)
        new_path = session.rename(listed, "processed/2026-11-25")

    assert new_path == "processed/2026-11-25/a.mp3"
    assert (root / "processed" / "2026-11-25" / "a.mp3").read_bytes() == b"payload"
    assert not (root / "in" / "a.mp3").exists()


def test_rename_is_relative_to_a_nested_remote_dir(server: LocalSftpServer, root: Path) -> None:
    write(root / "calls" / "a.mp3", b"payload")

    with SftpSession(target_for(server, remote_dir="/calls")) as session:
        (listed,) = session.list_files()
        assert session.rename(listed, "./done//x/") == "done/x/a.mp3"

    assert (root / "calls" / "done" / "x" / "a.mp3").read_bytes() == b"payload"


def test_rename_appends_a_counter_before_the_extension_when_the_name_is_taken(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "a.mp3", b"new")
    write(root / "noext", b"new")
    write(root / "done" / "a.mp3", b"old")
    write(root / "done" / "a-1.mp3", b"old-1")
    write(root / "done" / "noext", b"old")

    with SftpSession(target_for(server)) as session:
        by_path = {f.path: f for f in session.list_files()}
        assert session.rename(by_path["a.mp3"], "done") == "done/a-2.mp3"
        assert session.rename(by_path["noext"], "done") == "done/noext-1"

    assert (root / "done" / "a.mp3").read_bytes() == b"old"
    assert (root / "done" / "a-1.mp3").read_bytes() == b"old-1"
    assert (root / "done" / "a-2.mp3").read_bytes() == b"new"
    assert (root / "done" / "noext").read_bytes() == b"old"
    assert (root / "done" / "noext-1").read_bytes() == b"new"


def test_rename_keeps_the_raw_gbk_name(server: LocalSftpServer, root: Path) -> None:
    write_raw(root, GBK_NAME, b"gbk")
    write_raw(root / "done", GBK_NAME, b"old")

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        new_path = session.rename(listed, "done")

    assert new_path == "done/录音_张三-1.wav"
    moved = os.path.join(os.fsencode(root / "done"), "录音_张三-1.wav".encode("gbk"))
    with open(moved, "rb") as handle:
        assert handle.read() == b"gbk"
    assert os.listdir(os.fsencode(root)) == [b"done"]


def test_a_failed_rename_raises_and_leaves_the_source_in_place(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "a.mp3", b"payload")
    write(root / "processed", b"I am a file, not a directory")

    with SftpSession(target_for(server)) as session:
        (listed, _) = session.list_files()
        for dest_dir in ("processed", "processed/2026-11-25"):
            with pytest.raises(SftpError, match="不是目录"):
                session.rename(listed, dest_dir)

    assert (root / "a.mp3").read_bytes() == b"payload"
    assert (root / "processed").read_bytes() == b"I am a file, not a directory"


def test_a_rename_the_server_refuses_raises_and_leaves_the_source_in_place(
    server: LocalSftpServer, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root / "a.mp3", b"payload")

    def refuse(self: _ConfinedSftpServer, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only share")

    monkeypatch.setattr(_ConfinedSftpServer, "posix_rename", refuse)

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        with pytest.raises(SftpError, match=r"a\.mp3.*没有权限"):
            session.rename(listed, "processed")

    assert (root / "a.mp3").read_bytes() == b"payload"
    assert list((root / "processed").iterdir()) == []


def test_rename_refuses_a_destination_through_a_symlink(
    server: LocalSftpServer, root: Path, tmp_path: Path
) -> None:
    write(root / "a.mp3", b"payload")
    (tmp_path / "elsewhere").mkdir()
    (root / "processed").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        with pytest.raises(SftpError, match="不是目录"):
            session.rename(listed, "processed")

    assert (root / "a.mp3").exists()
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.parametrize(
    "dest_dir", ["/abs", "../up", "a/../b", "..", "", ".", "a\\b", "a\nb", "a/\x7f"]
)
def test_rename_refuses_unsafe_or_empty_destinations_without_touching_anything(
    server: LocalSftpServer, root: Path, dest_dir: str
) -> None:
    write(root / "a.mp3", b"payload")

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        with pytest.raises(SftpError, match="目标目录"):
            session.rename(listed, dest_dir)

    assert [p.name for p in root.iterdir()] == ["a.mp3"]


def test_rename_of_a_vanished_file_raises(server: LocalSftpServer, root: Path) -> None:
    write(root / "a.mp3", b"a")

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        (root / "a.mp3").unlink()
        with pytest.raises(SftpError, match="不存在"):
            session.rename(listed, "processed")


def _record_renames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for method in ("rename", "posix_rename"):
        original = getattr(_ConfinedSftpServer, method)

        def recording(
            self: _ConfinedSftpServer,
            oldpath: bytes,
            newpath: bytes,
            _method: str = method,
            _original: object = original,
        ) -> object:
            calls.append(_method)
            return _original(self, oldpath, newpath)  # type: ignore[operator]

        monkeypatch.setattr(_ConfinedSftpServer, method, recording)
    return calls


def _without_posix_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = asyncssh.sftp.SFTPServerHandler
    extensions = [ext for ext in handler._extensions if ext[0] != b"posix-rename@openssh.com"]
    monkeypatch.setattr(handler, "_extensions", extensions)


def test_rename_prefers_posix_rename_when_the_server_offers_it(
    server: LocalSftpServer, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root / "a.mp3", b"a")
    calls = _record_renames(monkeypatch)

    with SftpSession(target_for(server)) as session:
        (listed,) = session.list_files()
        session.rename(listed, "done")

    assert calls == ["posix_rename"]


def test_rename_falls_back_to_a_plain_rename_without_posix_rename(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root / "a.mp3", b"a")
    _without_posix_rename(monkeypatch)
    calls = _record_renames(monkeypatch)

    with (
        LocalSftpServer(
            root, username=USER, password=PASSWORD, host_key_path=tmp_path / "host_key"
        ) as server,
        SftpSession(target_for(server)) as session,
    ):
        (listed,) = session.list_files()
        assert session.rename(listed, "done") == "done/a.mp3"

    assert calls == ["rename"]
    assert (root / "done" / "a.mp3").read_bytes() == b"a"


def test_a_name_taken_just_before_a_plain_rename_moves_on_to_the_next_suffix(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root / "a.mp3", b"ours")
    _without_posix_rename(monkeypatch)
    original = _ConfinedSftpServer.rename
    raced: list[bytes] = []

    def someone_else_first(self: _ConfinedSftpServer, oldpath: bytes, newpath: bytes) -> None:
        if not raced:  # another writer creates the target right after our existence check
            raced.append(newpath)
            write(root / "done" / "a.mp3", b"theirs")
        original(self, oldpath, newpath)

    monkeypatch.setattr(_ConfinedSftpServer, "rename", someone_else_first)

    with (
        LocalSftpServer(
            root, username=USER, password=PASSWORD, host_key_path=tmp_path / "host_key"
        ) as server,
        SftpSession(target_for(server)) as session,
    ):
        (listed,) = session.list_files()
        assert session.rename(listed, "done") == "done/a-1.mp3"

    assert (root / "done" / "a.mp3").read_bytes() == b"theirs"
    assert (root / "done" / "a-1.mp3").read_bytes() == b"ours"


def test_remove_deletes_the_file_by_its_raw_path(server: LocalSftpServer, root: Path) -> None:
    write_raw(root, GBK_NAME, b"gbk")
    write(root / "keep.mp3", b"keep")

    with SftpSession(target_for(server)) as session:
        gbk = next(f for f in session.list_files() if f.raw_path == GBK_NAME)
        session.remove(gbk)
        assert [f.path for f in session.list_files()] == ["keep.mp3"]
        with pytest.raises(SftpError, match="录音_张三"):
            session.remove(gbk)

    assert os.listdir(os.fsencode(root)) == [b"keep.mp3"]


# -- host keys and authentication ------------------------------------------------------------


def test_it_refuses_a_changed_host_key_before_sending_any_credentials(
    server: LocalSftpServer, root: Path, dest: Path
) -> None:
    write(root / "a.mp3", b"a")
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    pinned = other_key.get_fingerprint("sha256")

    with (
        pytest.raises(HostKeyMismatchError) as excinfo,
        SftpSession(target_for(server, host_key_fingerprint=pinned)) as session,
    ):
        session.download(RemoteFile(path="a.mp3", size=1, mtime=0), dest)

    message = str(excinfo.value)
    assert pinned in message
    assert server.host_key_fingerprint in message
    assert f"127.0.0.1:{server.port}" in message
    assert server.auth_attempts == 0
    assert list(dest.iterdir()) == []


def test_it_accepts_the_fingerprint_line_exactly_as_ssh_keygen_prints_it(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "a.mp3", b"a")
    line = f"256 {server.host_key_fingerprint} demo@host (ED25519)"

    with SftpSession(target_for(server, host_key_fingerprint=line)) as session:
        assert [f.path for f in session.list_files()] == ["a.mp3"]


@pytest.mark.parametrize("fingerprint", ["", "MD5:aa:bb", "SHA256:short", "ssh-ed25519 AAAA"])
def test_it_rejects_a_malformed_pinned_fingerprint_without_connecting(
    server: LocalSftpServer, fingerprint: str
) -> None:
    with (
        pytest.raises(SftpError, match="指纹") as excinfo,
        SftpSession(target_for(server, host_key_fingerprint=fingerprint)),
    ):
        pass

    assert not isinstance(excinfo.value, HostKeyMismatchError)
    assert server.auth_attempts == 0


def test_it_rejects_a_wrong_password_without_echoing_it(server: LocalSftpServer) -> None:
    with (
        pytest.raises(SftpError) as excinfo,
        SftpSession(target_for(server, password="wrong-password-123")),
    ):
        pass

    message = str(excinfo.value)
    assert f"127.0.0.1:{server.port}" in message
    assert "认证失败" in message
    assert "wrong-password-123" not in message
    assert not isinstance(excinfo.value, HostKeyMismatchError)


def test_it_requires_a_password_or_a_private_key(server: LocalSftpServer) -> None:
    with (
        pytest.raises(SftpError, match="密码或私钥"),
        SftpSession(target_for(server, password=None)),
    ):
        pass


def test_it_authenticates_with_an_openssh_private_key(root: Path, tmp_path: Path) -> None:
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    write(root / "a.mp3", b"a")

    with (
        LocalSftpServer(
            root,
            username=USER,
            password="unused-password",
            host_key_path=tmp_path / "host_key",
            authorized_client_key=client_key.export_public_key().decode(),
        ) as server,
        SftpSession(
            target_for(server, password=None, private_key=client_key.export_private_key().decode())
        ) as session,
    ):
        assert [f.path for f in session.list_files()] == ["a.mp3"]


def _bcrypt_available() -> bool:
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "key_format",
    [
        "pkcs8-pem",
        pytest.param(
            "openssh",
            marks=pytest.mark.skipif(
                not _bcrypt_available(),
                reason="asyncssh needs bcrypt for passphrase-protected OpenSSH-format keys",
            ),
        ),
    ],
)
def test_it_authenticates_with_a_passphrase_protected_key_and_hides_a_wrong_passphrase(
    root: Path, tmp_path: Path, key_format: str
) -> None:
    client_key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    key_text = client_key.export_private_key(key_format, passphrase="open sesame").decode()

    with LocalSftpServer(
        root,
        username=USER,
        password="unused-password",
        host_key_path=tmp_path / "host_key",
        authorized_client_key=client_key.export_public_key().decode(),
    ) as server:
        good = target_for(
            server, password=None, private_key=key_text, private_key_passphrase="open sesame"
        )
        with SftpSession(good) as session:
            assert session.list_files() == []

        with (
            pytest.raises(SftpError) as excinfo,
            SftpSession(replace(good, private_key_passphrase="not-the-passphrase")),
        ):
            pass

    message = str(excinfo.value)
    assert "私钥" in message
    assert "not-the-passphrase" not in message
    assert "PRIVATE KEY" not in message


def test_it_rejects_a_private_key_the_server_does_not_authorize(
    server: LocalSftpServer,
) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()

    with (
        pytest.raises(SftpError, match="认证失败"),
        SftpSession(target_for(server, password=None, private_key=stranger)),
    ):
        pass


# -- connection failures ---------------------------------------------------------------------


def test_it_reports_clearly_when_nothing_listens_on_the_port(tmp_path: Path) -> None:
    port = free_port()
    target = SftpTarget(
        host="127.0.0.1",
        port=port,
        username=USER,
        host_key_fingerprint="SHA256:" + "A" * 43,
        remote_dir="/",
        password=PASSWORD,
        connect_timeout_s=5,
    )

    with pytest.raises(SftpError) as excinfo, SftpSession(target):
        pass

    message = str(excinfo.value)
    assert message.startswith(f"无法连接 SFTP 服务器 127.0.0.1:{port}：")
    assert "refused" in message.lower()
    assert PASSWORD not in message


def test_it_raises_sftp_error_instead_of_hanging_when_the_server_stops_mid_session(
    server: LocalSftpServer, root: Path, dest: Path
) -> None:
    write(root / "a.mp3", b"a" * 100_000)

    with SftpSession(target_for(server)) as session:
        (remote,) = session.list_files()
        server.stop()
        with pytest.raises(SftpError, match=r"127\.0\.0\.1"):
            session.list_files()
        with pytest.raises(SftpError):
            session.download(remote, dest)

    assert list(dest.iterdir()) == []


def test_it_removes_the_temp_file_when_the_connection_drops_mid_download(
    server: LocalSftpServer, root: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root / "a b.mp3", os.urandom(4 * 1024 * 1024))
    served_reads: list[int] = []
    original_read = _ConfinedSftpServer.read

    def read_then_crash(
        self: _ConfinedSftpServer, file_obj: object, offset: int, size: int
    ) -> object:
        # Fault injection on the real server: the connection dies after a few blocks.
        served_reads.append(offset)
        if len(served_reads) == 3:
            self.connection.abort()
        return original_read(self, file_obj, offset, size)

    monkeypatch.setattr(_ConfinedSftpServer, "read", read_then_crash)

    with SftpSession(target_for(server)) as session:
        (remote,) = session.list_files()
        with pytest.raises(SftpError) as excinfo:
            session.download(remote, dest)

    assert served_reads
    assert list(dest.iterdir()) == []
    # The reason from the connection (asyncssh's or the OS's words) sits inside two messages,
    # and reads in English for an English reader, the file name with its space intact.
    where = f"127.0.0.1:{server.port}"
    text = str(excinfo.value)
    pattern = rf"下载远程文件 a b\.mp3 失败 {re.escape(where)}：连接已断开（(.+)）"
    found = re.fullmatch(pattern, text)
    assert found is not None, text
    assert chinese(text) == text
    assert english(text) == (
        f"Downloading remote file a b.mp3 from {where} failed: Connection lost ({found[1]})"
    )


def test_it_gives_up_on_a_server_that_stops_answering_instead_of_hanging(
    server: LocalSftpServer, root: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root / "a.mp3", b"a" * 1000)

    async def never_answer(
        self: _ConfinedSftpServer, file_obj: object, offset: int, size: int
    ) -> bytes:
        await asyncio.sleep(3600)
        return b""

    monkeypatch.setattr(_ConfinedSftpServer, "read", never_answer)

    with SftpSession(target_for(server, io_timeout_s=0.5)) as session:
        (remote,) = session.list_files()
        with pytest.raises(SftpError, match="没有响应"):
            session.download(remote, dest)
        with pytest.raises(SftpError):
            session.list_files()

    assert list(dest.iterdir()) == []


def test_a_session_works_from_a_thread_that_already_runs_an_event_loop(
    server: LocalSftpServer, root: Path
) -> None:
    write(root / "a.mp3", b"a")

    async def inside_a_running_loop() -> list[str]:
        with SftpSession(target_for(server)) as session:
            return [f.path for f in session.list_files()]

    assert asyncio.run(inside_a_running_loop()) == ["a.mp3"]


def test_a_session_can_be_used_only_inside_its_with_block(server: LocalSftpServer) -> None:
    session = SftpSession(target_for(server))
    with session:
        session.list_files()

    with pytest.raises(SftpError):
        session.list_files()


# -- helpers and the demo server -------------------------------------------------------------


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_host_key_fingerprint_matches_ssh_keygen_for_text_and_paths(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    public_text = key.export_public_key().decode()
    pub_path = tmp_path / "key.pub"
    pub_path.write_text(public_text)
    keygen = subprocess.run(
        ["ssh-keygen", "-lf", str(pub_path)], capture_output=True, text=True, check=True
    ).stdout.split()[1]

    assert host_key_fingerprint(public_text) == keygen
    assert host_key_fingerprint(pub_path) == keygen
    assert host_key_fingerprint(str(pub_path)) == keygen


def test_host_key_fingerprint_rejects_something_that_is_not_a_public_key() -> None:
    with pytest.raises(ValueError, match="公钥"):
        host_key_fingerprint("not a key")


def test_the_demo_server_creates_a_private_host_key_once_and_reuses_it(
    root: Path, tmp_path: Path
) -> None:
    key_path = tmp_path / "keys" / "host_key"
    first = LocalSftpServer(root, username=USER, password=PASSWORD, host_key_path=key_path)
    second = LocalSftpServer(root, username=USER, password=PASSWORD, host_key_path=key_path)

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert first.host_key_fingerprint == second.host_key_fingerprint
    assert first.host_key_fingerprint.startswith("SHA256:")


def test_the_demo_server_accepts_uploads_into_its_root(server: LocalSftpServer, root: Path) -> None:
    async def upload() -> None:
        async with (
            asyncssh.connect(
                "127.0.0.1",
                server.port,
                username=USER,
                password=PASSWORD,
                known_hosts=None,
                config=None,
                client_keys=None,
                agent_path=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            await sftp.mkdir("/in")
            async with sftp.open("/in/up.mp3", "wb") as remote:
                await remote.write(b"uploaded")

    asyncio.run(upload())

    assert (root / "in" / "up.mp3").read_bytes() == b"uploaded"


def test_the_demo_command_serves_a_directory_in_the_foreground(root: Path, tmp_path: Path) -> None:
    write(root / "a.mp3", b"a")
    env = {**os.environ, "DEMO_SFTP_PASSWORD": PASSWORD}
    command = [
        sys.executable,
        "-m",
        "transcription.demo_sftp",
        str(root),
        "--port",
        "0",
        "--user",
        USER,
        "--password-env",
        "DEMO_SFTP_PASSWORD",
        "--host-key",
        str(tmp_path / "host_key"),
    ]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        port = int(lines[0].rsplit(":", 1)[1])
        fingerprint = lines[3].split(": ", 1)[1].strip()
        target = SftpTarget(
            host="127.0.0.1",
            port=port,
            username=USER,
            host_key_fingerprint=fingerprint,
            remote_dir="/",
            password=PASSWORD,
            connect_timeout_s=5,
        )
        with SftpSession(target) as session:
            assert [f.path for f in session.list_files()] == ["a.mp3"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

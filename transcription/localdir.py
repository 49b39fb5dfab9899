"""A local folder as a source, for appliances that drop recordings on this machine's disk.

It offers the same operations as `SftpSession`, with the same rules: regular files
only, symlinks never followed, nothing read or written outside the folder.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType

from qa_i18n import msg
from transcription.sftp import DownloadedFile, RemoteFile, SftpError, display_name

_CHUNK = 1024 * 1024


class LocalDirSession:
    def __init__(self, root: str) -> None:
        self._root = os.fsencode(os.path.abspath(root))

    def __enter__(self) -> LocalDirSession:
        if not os.path.isdir(self._root):
            raise SftpError(msg("本地目录不存在或不可读：{path}", path=os.fsdecode(self._root)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def list_files(self, *, recursive: bool = False) -> list[RemoteFile]:
        """Regular files under the folder, by their exact bytes; links and odd names skipped."""
        found: list[RemoteFile] = []
        pending = [b""]
        while pending:
            relative = pending.pop()
            try:
                entries = list(
                    os.scandir(os.path.join(self._root, relative) if relative else self._root)
                )
            except OSError as exc:
                raise SftpError(msg("无法列出本地目录：{error}", error=exc.strerror)) from None
            for entry in entries:
                name = os.fsencode(entry.name)
                if not _acceptable(name):
                    continue
                raw = os.path.join(relative, name) if relative else name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode) and recursive:
                    pending.append(raw)
                elif stat.S_ISREG(info.st_mode):
                    found.append(
                        RemoteFile(
                            path=_display(raw),
                            size=info.st_size,
                            mtime=int(info.st_mtime),
                            raw_path=raw,
                        )
                    )
        return sorted(found, key=lambda f: f.raw_path)

    def stat(self, remote: RemoteFile) -> RemoteFile:
        try:
            info = os.lstat(self._path(remote))
        except OSError as exc:
            raise SftpError(
                msg("文件已不存在：{path}（{error}）", path=remote.path, error=exc.strerror)
            ) from None
        if not stat.S_ISREG(info.st_mode):
            raise SftpError(msg("已不是普通文件：{path}", path=remote.path))
        return RemoteFile(
            path=remote.path, size=info.st_size, mtime=int(info.st_mtime), raw_path=remote.raw_path
        )

    def download(self, remote: RemoteFile, dest_dir: Path) -> DownloadedFile:
        """Copy into a new temporary file in dest_dir, hashing as it goes; size verified."""
        fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=dest_dir)
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        received = 0
        try:
            # O_NOFOLLOW: a file swapped for a link after listing is refused, not followed.
            src = os.open(self._path(remote), os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(src, "rb") as inp, os.fdopen(fd, "wb") as out:
                while chunk := inp.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SftpError(
                msg("复制 {path} 失败：{error}", path=remote.path, error=exc.strerror)
            ) from None
        if received != remote.size:
            tmp.unlink(missing_ok=True)
            raise SftpError(
                msg(
                    "{path} 大小已变化：读到 {received} 字节，应为 {expected}",
                    path=remote.path,
                    received=received,
                    expected=remote.size,
                )
            )
        return DownloadedFile(local_path=tmp, size=received, sha256=digest.hexdigest())

    def rename(self, remote: RemoteFile, dest_dir: str) -> str:
        parts = Path(dest_dir).parts
        if Path(dest_dir).is_absolute() or ".." in parts or not parts:
            raise SftpError(msg("已处理目录无效：{path}", path=dest_dir))
        target_dir = os.path.join(self._root, os.fsencode(dest_dir))
        try:
            os.makedirs(target_dir, exist_ok=True)
            name = os.path.basename(self._raw(remote))
            stem, ext = os.path.splitext(name)
            target = os.path.join(target_dir, name)
            counter = 0
            while os.path.lexists(target):
                counter += 1
                target = os.path.join(target_dir, stem + f"-{counter}".encode() + ext)
            os.rename(self._path(remote), target)
        except OSError as exc:
            raise SftpError(
                msg("移动 {path} 失败：{error}", path=remote.path, error=exc.strerror)
            ) from None
        return _display(os.path.relpath(target, self._root))

    def remove(self, remote: RemoteFile) -> None:
        try:
            os.unlink(self._path(remote))
        except OSError as exc:
            raise SftpError(
                msg("删除 {path} 失败：{error}", path=remote.path, error=exc.strerror)
            ) from None

    def _raw(self, remote: RemoteFile) -> bytes:
        return remote.raw_path or remote.path.encode("utf-8")

    def _path(self, remote: RemoteFile) -> bytes:
        raw = self._raw(remote)
        parts = raw.split(b"/")
        if raw.startswith(b"/") or any(p in (b"", b".", b"..") for p in parts):
            raise SftpError(msg("路径越界：{path}", path=remote.path))
        return os.path.join(self._root, raw)


def _display(raw: bytes) -> str:
    # Each component on its own: a UTF-8 folder may hold a GBK-named file.
    return "/".join(display_name(part) for part in raw.split(b"/"))


def _acceptable(name: bytes) -> bool:
    return name not in (b".", b"..") and not any(b < 0x20 or b == 0x7F for b in name)

"""SFTP I/O for pulling call recordings: a small synchronous facade over asyncssh.

Nothing here touches Django; callers (Celery tasks) pass everything in an `SftpTarget`.
Each `SftpSession` owns a private asyncio event loop running in a dedicated background
thread, so it also works when the calling thread already runs an event loop; use one
session from one thread at a time.

Remote names are bytes. Each `RemoteFile` keeps the exact bytes (`raw_path`) for every SFTP
operation and a decoded `path` for display and bookkeeping only: UTF-8, else GB18030 (Windows
call platforms in China), else backslash-escaped.

Host keys are pinned: the server must present exactly the key whose SHA256 fingerprint
the target names. Nothing is read from ~/.ssh (no known_hosts, config, agent or keys).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import os
import posixpath
import re
import socket
import stat
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import asyncssh
from asyncssh.public_key import get_default_public_key_algs

from qa_i18n import msg

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from typing import TypeVar

    _T = TypeVar("_T")

logger = logging.getLogger(__name__)

# 32 KiB reads are what every SFTPv3 server must accept (draft-02: packets of >= 34000 bytes).
_FALLBACK_BLOCK = 32 * 1024
# OpenSSH's sftp-server caps reads at 255 KiB; bigger requests would only come back short.
_MAX_BLOCK = 255 * 1024
# Bytes kept in flight per download: enough to fill the SSH window on a LAN link.
_READ_AHEAD_BYTES = 8 * 1024 * 1024
# Recursion guard: symlinks are never followed, but a hostile server could nest forever.
_MAX_DEPTH = 32
# Downloaded bytes between writeback hints (posix_fadvise, where the OS has it).
_WRITEBACK_BYTES = 32 * 1024 * 1024
_FADVISE = hasattr(os, "posix_fadvise")
# Idle limit for a single SFTP request; a live-but-stuck server must not hang a Celery worker.
_IO_TIMEOUT_S = 120.0
# How long abandoned in-flight requests get to finish before being cancelled.
_SETTLE_TIMEOUT_S = 5.0
# Only plain host keys are offered, so certificates/X.509 can never stand in for the pinned key.
_HOST_KEY_ALGS = [alg.decode("ascii") for alg in get_default_public_key_algs()]
# AES-GCM is much faster than chacha20-poly1305 through the `cryptography` bindings.
_ENCRYPTION_ALGS = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
]
_FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES_RE = re.compile(rb"[\x00-\x1f\x7f]")
# Encodings tried, in order, to turn a remote name into a display name.
_NAME_ENCODINGS = ("utf-8", "gb18030")
# rename(): how many "-N" suffixes to try before giving up on a crowded destination.
_MAX_RENAME_SUFFIX = 999


@dataclass(frozen=True)
class SftpTarget:
    """Where to connect and how to authenticate; secrets are already resolved."""

    host: str
    port: int
    username: str
    host_key_fingerprint: str  # "SHA256:..." as `ssh-keygen -lf` prints it
    remote_dir: str
    password: str | None = None
    private_key: str | None = None  # PEM/OpenSSH private key text
    private_key_passphrase: str | None = None
    connect_timeout_s: float = 20.0
    io_timeout_s: float = _IO_TIMEOUT_S

    def __repr__(self) -> str:
        # The dataclass repr would print the password and key into logs and tracebacks.
        return (
            f"SftpTarget(host={self.host!r}, port={self.port!r}, username={self.username!r}, "
            f"remote_dir={self.remote_dir!r}, host_key_fingerprint={self.host_key_fingerprint!r})"
        )


@dataclass(frozen=True)
class RemoteFile:
    """A regular file on the server, relative to the target's remote_dir.

    `path` is for display and bookkeeping only (never a local path): the POSIX path with each
    component decoded as UTF-8, else GB18030, else with undecodable bytes backslash-escaped.
    `raw_path` holds the exact bytes used for every SFTP operation (listings always fill it);
    b"" means `path.encode("utf-8")`.
    """

    path: str
    size: int
    mtime: int
    raw_path: bytes = b""

    @property
    def raw(self) -> bytes:
        """The exact remote path bytes relative to remote_dir (raw_path or UTF-8 of path)."""
        return self.raw_path or self.path.encode("utf-8")


@dataclass(frozen=True)
class DownloadedFile:
    """A fully downloaded, fsync'ed temporary file the caller must move or delete."""

    local_path: Path
    size: int
    sha256: str


class SftpError(Exception):
    """Any SFTP failure; the message is safe to show to users (no secrets)."""


class HostKeyMismatchError(SftpError):
    """The server's host key is not the pinned one."""


def host_key_fingerprint(public_key_text_or_path: str | bytes | os.PathLike[str]) -> str:
    """Return the "SHA256:..." fingerprint of an OpenSSH public key given as text or a file path.

    A `str` is first tried as key text, then as a path. Raises ValueError if no key can be read.
    """
    try:
        if isinstance(public_key_text_or_path, os.PathLike):
            key = asyncssh.read_public_key(os.fspath(public_key_text_or_path))
        else:
            try:
                key = asyncssh.import_public_key(public_key_text_or_path)
            except asyncssh.KeyImportError:
                if isinstance(public_key_text_or_path, str) and os.path.isfile(
                    public_key_text_or_path
                ):
                    key = asyncssh.read_public_key(public_key_text_or_path)
                else:
                    raise
    except (asyncssh.KeyImportError, OSError) as exc:
        raise ValueError(msg("无法读取 OpenSSH 公钥：{error}", error=exc)) from None
    return key.get_fingerprint("sha256")


def _normalize_fingerprint(value: str) -> str:
    """Accept what `ssh-keygen -lf` prints (even with padding); return "SHA256:<43 chars>"."""
    text = value.strip()
    # `ssh-keygen -lf` prints "256 SHA256:... comment (ED25519)"; pick the fingerprint field.
    for field in text.split():
        if field[:7].upper() == "SHA256:":
            text = field
            break
    text = "SHA256:" + text[7:].rstrip("=") if text[:7].upper() == "SHA256:" else text
    if not _FINGERPRINT_RE.match(text):
        raise SftpError(
            msg(
                "主机公钥指纹格式无效（应为 ssh-keygen -lf 输出的 SHA256:…）：{value}",
                value=repr(value),
            )
        )
    return text


class _PinnedHostKeyClient(asyncssh.SSHClient):
    """Accepts exactly one host key, identified by its SHA256 fingerprint."""

    def __init__(self, expected_fingerprint: str) -> None:
        self.expected_fingerprint = expected_fingerprint
        self.presented_fingerprint: str | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Consulted by asyncssh because the trusted-key set is empty (see `_no_known_hosts`)."""
        fingerprint = key.get_fingerprint("sha256")
        self.presented_fingerprint = fingerprint
        return hmac.compare_digest(fingerprint.encode(), self.expected_fingerprint.encode())

    def validate_host_ca_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Never trust a certificate authority; only the pinned key itself is accepted."""
        return False


def _no_known_hosts(
    host: str, addr: str, port: int | None
) -> tuple[list[str], list[str], list[str]]:
    # A (truthy) callable stops asyncssh from loading ~/.ssh/known_hosts and, unlike
    # known_hosts=None, keeps validation on: with no trusted keys every key goes to our callback.
    return [], [], []


async def _settle(futures: list[asyncio.Future[Any]]) -> None:
    """Wait briefly for abandoned requests and retrieve their results; cancel only stragglers."""
    if not futures:
        return
    _, not_done = await asyncio.wait(futures, timeout=_SETTLE_TIMEOUT_S)
    for future in not_done:
        future.cancel()
    await asyncio.gather(*futures, return_exceptions=True)


def _valid_name(name: str) -> bool:
    """A single (display) name we are willing to turn into a path."""
    return (
        bool(name) and name not in (".", "..") and "/" not in name and not _CONTROL_RE.search(name)
    )


def _valid_raw_name(raw: bytes) -> bool:
    """A single raw directory entry name we are willing to put into an SFTP path."""
    return (
        bool(raw)
        and raw not in (b".", b"..")
        and b"/" not in raw
        and not _CONTROL_BYTES_RE.search(raw)
    )


def display_name(raw: bytes) -> str:
    """Decode a remote name (or path) for display: UTF-8, else GB18030, else with undecodable
    bytes shown as \\xNN. Display only; never use the result to address a file."""
    for encoding in _NAME_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="backslashreplace")


def _dest_parts(dest_dir: str) -> list[str]:
    """Validate a destination directory relative to remote_dir; return its components."""
    if dest_dir.startswith("/") or "\\" in dest_dir:
        raise SftpError(
            msg("目标目录必须是 remote_dir 下的相对 POSIX 路径：{path}", path=repr(dest_dir))
        )
    parts = [part for part in dest_dir.split("/") if part not in ("", ".")]
    if not parts:
        raise SftpError(msg("目标目录不能为空：{path}", path=repr(dest_dir)))
    if not all(_valid_name(part) for part in parts):  # "..", control characters
        raise SftpError(msg("拒绝不安全的目标目录：{path}", path=repr(dest_dir)))
    return parts


def _file_kind(attrs: asyncssh.SFTPAttrs) -> str | None:
    """'file', 'dir', 'other', or None when the server sent no type information."""
    if attrs.permissions is not None and stat.S_IFMT(attrs.permissions):
        mode = attrs.permissions
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISDIR(mode):
            return "dir"
        return "other"
    if attrs.type == asyncssh.FILEXFER_TYPE_REGULAR:
        return "file"
    if attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
        return "dir"
    if attrs.type == asyncssh.FILEXFER_TYPE_UNKNOWN:
        return None
    return "other"


class SftpSession:
    """A connected SFTP session; use as a context manager. Not thread-safe."""

    def __init__(self, target: SftpTarget) -> None:
        """Prepare a session; nothing connects until `__enter__`."""
        self._target = target
        self._where = f"{target.host}:{target.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._remote_root = (target.remote_dir or ".").encode("utf-8")
        self._block_size = _FALLBACK_BLOCK

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> SftpSession:
        """Connect, verify the pinned host key, authenticate and start SFTP."""
        if self._loop is not None:
            raise RuntimeError("SftpSession is not reentrant")
        # The loop runs in its own thread, so a caller that already runs an event loop
        # (an async view, a test driving a browser) can still use this sync API.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"sftp-{self._where}", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._connect())
        except BaseException:
            self._shutdown()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection and the private event loop, even after errors."""
        self._shutdown()

    # -- public operations -----------------------------------------------------------------

    def list_files(self, *, recursive: bool = False) -> list[RemoteFile]:
        """Regular files under remote_dir (symlinks, dirs and odd names skipped), sorted by path."""
        return self._run(self._list(recursive))

    def stat(self, remote: RemoteFile) -> RemoteFile:
        """Fresh size and mtime of `remote` (lstat: a symlink is not a regular file).

        Raises SftpError if the file is gone or is no longer a regular file.
        """
        return self._run(self._stat(remote))

    def rename(self, remote: RemoteFile, dest_dir: str) -> str:
        """Move `remote` into `dest_dir` (relative to remote_dir); return its new display path.

        Missing directories are created one level at a time. The raw base name is kept; if it
        is taken, "-1", "-2", ... is inserted before the extension. Uses the OpenSSH
        posix-rename extension when the server offers it, else a plain SFTP rename. On any
        failure SftpError is raised and the source file has not been moved (except when the
        connection drops or times out during the rename request itself: then the outcome is
        unknown, and the next listing shows where the file is).

        posix-rename replaces an existing target; the target is checked just before, so only a
        file created there by someone else in between could be replaced. A plain rename never
        replaces (SFTPv3), and a name taken in that window just moves on to the next suffix.
        """
        return self._run(self._rename(remote, dest_dir))

    def remove(self, remote: RemoteFile) -> None:
        """Delete `remote` on the server; SftpError if that fails (including already gone)."""
        self._run(self._remove(remote))

    def download(self, remote: RemoteFile, dest_dir: Path) -> DownloadedFile:
        """Stream `remote` into a new ".part-*" temp file in dest_dir, verifying size; return it.

        The temp file is removed on any error; on success the caller owns (renames) it.
        """
        remote_path = self._remote_path(remote)
        if remote.size < 0:
            raise SftpError(
                msg("远程文件大小无效：{path}（{size}）", path=remote.path, size=remote.size)
            )
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=dest_dir)
        except OSError as exc:
            raise SftpError(
                msg(
                    "无法在 {path} 创建临时文件：{error}",
                    path=dest_dir,
                    error=exc.strerror or exc,
                )
            ) from None
        tmp_path = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                written = advised = 0

                def sink(data: bytes) -> None:
                    nonlocal written, advised
                    out.write(data)
                    digest.update(data)
                    written += len(data)
                    if written - advised >= _WRITEBACK_BYTES and _FADVISE:
                        # Start writeback now and drop the pages: the final fsync has less
                        # to do, and a 2 GiB recording does not crowd out the page cache.
                        out.flush()
                        os.posix_fadvise(
                            out.fileno(), advised, written - advised, os.POSIX_FADV_DONTNEED
                        )
                        advised = written

                received = self._run(self._fetch(remote, remote_path, sink))
                out.flush()
                os.fsync(out.fileno())
            if received != remote.size:
                raise SftpError(
                    msg(
                        "下载 {where} 的 {path} 不完整：收到 {received} 字节，应为 {expected} 字节",
                        where=self._where,
                        path=remote.path,
                        received=received,
                        expected=remote.size,
                    )
                )
        except BaseException as exc:
            tmp_path.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise SftpError(
                    msg(
                        "写入临时文件失败（{path}）：{error}",
                        path=remote.path,
                        error=exc.strerror or exc,
                    )
                ) from None
            raise
        return DownloadedFile(local_path=tmp_path, size=received, sha256=digest.hexdigest())

    # -- async internals -------------------------------------------------------------------

    async def _connect(self) -> None:
        target = self._target
        expected = _normalize_fingerprint(target.host_key_fingerprint)
        password = target.password or None
        client_keys: list[asyncssh.SSHKey] | None = None
        if target.private_key:
            try:
                client_keys = [
                    asyncssh.import_private_key(
                        target.private_key, target.private_key_passphrase or None
                    )
                ]
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                # The asyncssh reason never contains key material, only what is wrong with it.
                raise SftpError(
                    msg("SFTP 私钥无法解析（{where}）：{error}", where=self._where, error=exc)
                ) from None
        if password is None and client_keys is None:
            raise SftpError(msg("未提供 SFTP 密码或私钥（{where}）", where=self._where))

        client = _PinnedHostKeyClient(expected)
        try:
            conn = await asyncssh.connect(
                target.host,
                target.port,
                client_factory=lambda: client,
                connect_timeout=target.connect_timeout_s,
                # Host key pinning; see _PinnedHostKeyClient and _no_known_hosts.
                known_hosts=_no_known_hosts,
                server_host_key_algs=_HOST_KEY_ALGS,
                x509_trusted_certs=None,
                x509_trusted_cert_paths=None,
                # Nothing from the local account: no ssh config, agent, default keys, GSS.
                config=None,
                agent_path=None,
                agent_forwarding=False,
                agent_identities=None,
                pkcs11_provider=None,
                gss_auth=False,
                gss_kex=False,
                host_based_auth=False,
                x11_forwarding=False,
                username=target.username,
                password=password,
                client_keys=client_keys,
                public_key_auth=client_keys is not None,
                password_auth=password is not None,
                kbdint_auth=password is not None,
                encryption_algs=_ENCRYPTION_ALGS,
                compression_algs=["none"],  # recordings are already compressed audio
                # Detect a vanished server during long downloads instead of hanging forever.
                keepalive_interval=15,
                keepalive_count_max=4,
                tcp_keepalive=True,
            )
        except asyncssh.HostKeyNotVerifiable:
            actual = client.presented_fingerprint or msg("（服务器未提供可校验的普通主机公钥）")
            raise HostKeyMismatchError(
                msg(
                    "SFTP 服务器 {where} 的主机公钥与配置不符，已拒绝连接："
                    "期望 {expected}，实际 {actual}",
                    where=self._where,
                    expected=expected,
                    actual=actual,
                )
            ) from None
        except asyncssh.PermissionDenied:
            raise SftpError(
                msg(
                    "SFTP 认证失败 {where}（用户 {username}）：用户名、密码或私钥不正确",
                    where=self._where,
                    username=target.username,
                )
            ) from None
        except TimeoutError:
            raise SftpError(
                msg(
                    "连接 SFTP 服务器 {where} 超时（{seconds} 秒）",
                    where=self._where,
                    seconds=f"{target.connect_timeout_s:g}",
                )
            ) from None
        except Exception as exc:
            raise SftpError(
                msg(
                    "无法连接 SFTP 服务器 {where}：{reason}",
                    where=self._where,
                    reason=self._mapped_reason(exc),
                )
            ) from exc
        self._conn = conn
        try:
            async with asyncio.timeout(target.connect_timeout_s):
                self._sftp = await conn.start_sftp_client()
        except TimeoutError:
            raise SftpError(msg("启动 SFTP 会话超时 {where}", where=self._where)) from None
        except Exception as exc:
            raise SftpError(
                msg(
                    "无法启动 SFTP 会话 {where}：{reason}",
                    where=self._where,
                    reason=self._mapped_reason(exc),
                )
            ) from exc
        limits_read = self._sftp.limits.max_read_len
        # asyncssh's own no-limits default (16 KiB) is too cautious; honour real limits if smaller.
        self._block_size = (
            min(_MAX_BLOCK, limits_read) if limits_read > 16 * 1024 else _FALLBACK_BLOCK
        )

    async def _list(self, recursive: bool) -> list[RemoteFile]:
        sftp = self._require_sftp()
        found: list[RemoteFile] = []
        # (raw relative dir, display relative dir, depth)
        pending: list[tuple[bytes, str, int]] = [(b"", "", 0)]
        while pending:
            raw_dir, rel_dir, depth = pending.pop()
            dir_path = posixpath.join(self._remote_root, raw_dir) if raw_dir else self._remote_root
            try:
                entries = await self._io(sftp.readdir(dir_path))
            except Exception as exc:
                raise SftpError(
                    msg(
                        "无法列出远程目录 {location}：{reason}",
                        location=self._at(display_name(dir_path)),
                        reason=self._mapped_reason(exc),
                    )
                ) from exc
            for entry in entries:
                raw = cast(bytes, entry.filename)
                if raw in (b".", b".."):
                    continue
                name = display_name(raw)
                if not (_valid_raw_name(raw) and _valid_name(name)):
                    logger.warning(
                        "skipping remote entry with an unsafe name on %s in %r: %r",
                        self._where,
                        rel_dir or ".",
                        raw,
                    )
                    continue
                raw_path = posixpath.join(raw_dir, raw) if raw_dir else raw
                rel_path = posixpath.join(rel_dir, name) if rel_dir else name
                attrs = entry.attrs
                kind = _file_kind(attrs)
                if kind is None or (kind == "file" and (attrs.size is None or attrs.mtime is None)):
                    # READDIR gave no type/size: ask with lstat, which never follows links.
                    try:
                        attrs = await self._io(sftp.lstat(posixpath.join(dir_path, raw)))
                    except Exception as exc:
                        raise SftpError(
                            msg(
                                "无法读取远程文件属性 {location}：{reason}",
                                location=self._at(rel_path),
                                reason=self._mapped_reason(exc),
                            )
                        ) from exc
                    kind = _file_kind(attrs)
                if kind == "dir":
                    if not recursive:
                        continue
                    if depth >= _MAX_DEPTH:
                        logger.warning(
                            "not descending into %s on %s: deeper than %d levels",
                            rel_path,
                            self._where,
                            _MAX_DEPTH,
                        )
                        continue
                    pending.append((raw_path, rel_path, depth + 1))
                elif kind == "file" and attrs.size is not None:
                    found.append(
                        RemoteFile(
                            path=rel_path,
                            size=attrs.size,
                            mtime=int(attrs.mtime or 0),
                            raw_path=raw_path,
                        )
                    )
                else:
                    logger.debug(
                        "skipping non-regular remote entry %s on %s", rel_path, self._where
                    )
        found.sort(key=lambda remote: (remote.path, remote.raw))
        for before, after in itertools.pairwise(found):
            if before.path == after.path:
                logger.warning(
                    "remote entries %r and %r on %s share the display path %r; "
                    "tell them apart by raw_path",
                    before.raw,
                    after.raw,
                    self._where,
                    after.path,
                )
        return found

    async def _stat(self, remote: RemoteFile) -> RemoteFile:
        attrs = await self._lstat(self._remote_path(remote), remote.path)
        if attrs is None:
            raise SftpError(
                msg("远程文件 {path} 已不存在（{where}）", path=remote.path, where=self._where)
            )
        if _file_kind(attrs) != "file" or attrs.size is None:
            raise SftpError(
                msg(
                    "远程路径 {path} 已不是普通文件（{where}）", path=remote.path, where=self._where
                )
            )
        return RemoteFile(
            path=remote.path,
            size=attrs.size,
            mtime=int(attrs.mtime or 0),
            raw_path=remote.raw_path,
        )

    async def _remove(self, remote: RemoteFile) -> None:
        remote_path = self._remote_path(remote)
        try:
            await self._io(self._require_sftp().remove(remote_path))
        except Exception as exc:
            raise SftpError(
                msg(
                    "无法删除远程文件 {location}：{reason}",
                    location=self._at(remote.path),
                    reason=self._mapped_reason(exc),
                )
            ) from exc

    async def _rename(self, remote: RemoteFile, dest_dir: str) -> str:
        source = self._remote_path(remote)
        parts = _dest_parts(dest_dir)
        await self._stat(remote)  # a clear error if the source vanished or changed kind
        dest_path = self._remote_root
        for index, part in enumerate(parts):
            dest_path = posixpath.join(dest_path, part.encode("utf-8"))
            await self._ensure_dir(dest_path, "/".join(parts[: index + 1]))
        base = source.rsplit(b"/", 1)[-1]
        stem, ext = posixpath.splitext(base)
        for attempt in range(_MAX_RENAME_SUFFIX + 1):
            name = base if attempt == 0 else b"%s-%d%s" % (stem, attempt, ext)
            new_path = posixpath.join(dest_path, name)
            new_display = "/".join([*parts, display_name(name)])
            if new_path == source:
                return remote.path  # already in dest_dir
            if await self._lstat(new_path, new_display) is not None:
                continue
            try:
                await self._move(source, new_path)
            except Exception as exc:
                # Someone took the name between our check and the (non-overwriting) plain
                # rename: try the next suffix. Anything else is a real failure.
                if await self._lstat(new_path, new_display) is not None:
                    continue
                raise SftpError(
                    msg(
                        "无法将远程文件 {path} 移动到 {location}：{reason}",
                        path=remote.path,
                        location=self._at(new_display),
                        reason=self._mapped_reason(exc),
                    )
                ) from exc
            return new_display
        raise SftpError(
            msg(
                "无法将远程文件 {path} 移动到 {dest}：同名文件过多（{where}）",
                path=remote.path,
                dest="/".join(parts),
                where=self._where,
            )
        )

    async def _move(self, source: bytes, target: bytes) -> None:
        """posix-rename@openssh.com when offered (atomic), else a plain SFTP rename."""
        sftp = self._require_sftp()
        try:
            await self._io(sftp.posix_rename(source, target))
        except asyncssh.SFTPOpUnsupported:
            await self._io(sftp.rename(source, target))

    async def _ensure_dir(self, path: bytes, display: str) -> None:
        """Make sure `path` is a real directory (not a symlink), creating it if missing."""
        attrs = await self._lstat(path, display)
        if attrs is None:
            try:
                await self._io(self._require_sftp().mkdir(path))
                return
            except Exception as exc:
                attrs = await self._lstat(path, display)  # created concurrently by someone else?
                if attrs is None:
                    raise SftpError(
                        msg(
                            "无法创建远程目录 {location}：{reason}",
                            location=self._at(display),
                            reason=self._mapped_reason(exc),
                        )
                    ) from exc
        if _file_kind(attrs) != "dir":
            raise SftpError(
                msg(
                    "远程路径 {path} 已存在但不是目录（或是符号链接）（{where}）",
                    path=display,
                    where=self._where,
                )
            )

    async def _lstat(self, path: bytes, display: str) -> asyncssh.SFTPAttrs | None:
        """lstat, or None if nothing is there; other errors become SftpError."""
        try:
            return await self._io(self._require_sftp().lstat(path))
        except asyncssh.SFTPNoSuchFile:
            return None
        except Exception as exc:
            raise SftpError(
                msg(
                    "无法读取远程文件属性 {location}：{reason}",
                    location=self._at(display),
                    reason=self._mapped_reason(exc),
                )
            ) from exc

    async def _fetch(
        self,
        remote: RemoteFile,
        remote_path: bytes,
        sink: Callable[[bytes], None],
    ) -> int:
        """Pipelined, in-order read of exactly remote.size bytes, then prove EOF is right there."""
        sftp = self._require_sftp()
        block = self._block_size
        depth = max(4, min(128, _READ_AHEAD_BYTES // block))
        received = 0
        inflight: deque[tuple[int, asyncio.Future[bytes]]] = deque()
        # One byte past the expected end must be EOF, otherwise the file is still growing.
        # Asked together with the last blocks, so it costs no extra round trip per file.
        eof_probe: asyncio.Future[bytes] | None = None
        try:
            remote_file = await self._io(sftp.open(remote_path, "rb", block_size=block))
        except Exception as exc:
            raise SftpError(
                msg(
                    "无法打开远程文件 {location}：{reason}",
                    location=self._at(remote.path),
                    reason=self._mapped_reason(exc),
                )
            ) from exc
        try:
            next_offset = 0
            while True:
                while len(inflight) < depth and next_offset < remote.size:
                    length = min(block, remote.size - next_offset)
                    inflight.append(
                        (length, asyncio.ensure_future(remote_file.read(length, next_offset)))
                    )
                    next_offset += length
                if eof_probe is None and next_offset >= remote.size:
                    eof_probe = asyncio.ensure_future(remote_file.read(1, remote.size))
                if not inflight:
                    break
                length, future = inflight[0]
                data = await self._io(future)
                inflight.popleft()
                sink(data)
                received += len(data)
                if len(data) < length:
                    # asyncssh re-requests short reads itself, so a short block means EOF.
                    return received
            beyond_end = await self._io(eof_probe) if eof_probe is not None else b""
            if beyond_end:
                raise SftpError(
                    msg(
                        "远程文件 {path}（{where}）比预期的 {size} 字节大，可能仍在写入",
                        path=remote.path,
                        where=self._where,
                        size=remote.size,
                    )
                )
            return received
        except SftpError:
            raise
        except Exception as exc:
            raise SftpError(
                msg(
                    "下载远程文件 {path} 失败 {where}：{reason}",
                    path=remote.path,
                    where=self._where,
                    reason=self._mapped_reason(exc),
                )
            ) from exc
        finally:
            # Outstanding reads end quickly (EOF, or error on a dropped connection); let them.
            await _settle(
                [future for _, future in inflight] + ([eof_probe] if eof_probe is not None else [])
            )
            try:
                async with asyncio.timeout(5):
                    await remote_file.close()
            except Exception:  # noqa: S110 - best effort; the real error is already propagating
                pass

    # -- helpers ---------------------------------------------------------------------------

    def _remote_path(self, remote: RemoteFile) -> bytes:
        """Join a listed relative path under remote_dir, refusing anything that could escape it."""
        try:
            raw = remote.raw
        except UnicodeEncodeError:
            raw = b""
        if not raw or not all(_valid_raw_name(part) for part in raw.split(b"/")):
            raise SftpError(msg("拒绝不安全的远程路径：{path}", path=repr(remote.path)))
        return posixpath.join(self._remote_root, raw)

    def _at(self, display: str) -> str:
        """A remote path and the server as one message parameter: "录音/a b.wav 10.0.0.5:22".

        One value rather than "{path} {where}": a path may hold spaces, so a stored message
        could not be split back into the two when it is translated (see qa_platform.i18n).
        """
        return f"{display} {self._where}"

    def _require_sftp(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            raise SftpError(msg("SFTP 会话未连接（请在 with SftpSession(...) 块内使用）"))
        return self._sftp

    async def _io(self, awaitable: Awaitable[_T]) -> _T:
        """Await one SFTP request with the idle timeout."""
        # Shielded: cancelling asyncssh's read mid-flight leaks its internal sub-request tasks.
        task = asyncio.ensure_future(awaitable)
        try:
            async with asyncio.timeout(self._target.io_timeout_s):
                return await asyncio.shield(task)
        except TimeoutError:
            # A stuck server would stall every later request too: drop the connection so the
            # rest of the session fails fast instead of waiting out one timeout per file.
            if self._conn is not None:
                self._conn.abort()
            await _settle([task])
            raise SftpError(
                msg(
                    "SFTP 服务器 {where} 在 {seconds} 秒内没有响应，已断开连接",
                    where=self._where,
                    seconds=f"{self._target.io_timeout_s:g}",
                )
            ) from None

    def _mapped_reason(self, exc: BaseException) -> str:
        """A readable reason (never secrets) for an asyncssh/OS error, to go into an SftpError.

        An SftpError is re-raised as it is, and so is anything this does not recognise. Each
        caller wraps the reason in its own whole template ("下载远程文件 {path} 失败
        {where}：{reason}"), so a stored error is matched back to one template with the reason
        as its parameter, and both translate (see qa_platform.i18n).
        """
        if isinstance(exc, SftpError):
            raise exc
        if isinstance(exc, asyncssh.SFTPNoSuchFile):
            reason = msg("文件或目录不存在（{reason}）", reason=exc.reason)
        elif isinstance(exc, asyncssh.SFTPPermissionDenied):
            reason = msg("没有权限（{reason}）", reason=exc.reason)
        elif isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.ConnectionLost):
            reason = msg("连接已断开（{reason}）", reason=exc.reason)
        elif isinstance(
            exc, asyncssh.DisconnectError | asyncssh.SFTPError | asyncssh.ChannelOpenError
        ):
            reason = exc.reason or type(exc).__name__
        elif isinstance(exc, socket.gaierror):
            reason = msg("无法解析主机名（{reason}）", reason=exc.strerror)
        elif isinstance(exc, BrokenPipeError | ConnectionResetError | ConnectionAbortedError):
            reason = msg(
                "连接已断开（{reason}）", reason=os.strerror(exc.errno) if exc.errno else exc
            )
        elif isinstance(exc, OSError):
            # asyncio's strerror is "Connect call failed (...)"; the errno text says *why*.
            reason = os.strerror(exc.errno) if exc.errno else (str(exc) or type(exc).__name__)
        elif isinstance(exc, ValueError):  # e.g. asyncssh cannot determine the local username
            reason = str(exc)
        else:
            raise exc
        return reason

    def _run(self, coro: Coroutine[object, object, _T]) -> _T:
        if self._loop is None or self._loop.is_closed():
            coro.close()  # never started; closing avoids a "never awaited" warning
            raise SftpError(msg("SFTP 会话未连接（请在 with SftpSession(...) 块内使用）"))
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _shutdown(self) -> None:
        """Close SFTP, the SSH connection and the loop; never raises."""
        loop = self._loop
        if loop is None:
            return
        try:
            if not loop.is_closed():
                asyncio.run_coroutine_threadsafe(self._close_and_cancel(), loop).result()
        except Exception:
            logger.debug("error while closing SFTP session to %s", self._where, exc_info=True)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join()
                self._thread = None
            loop.close()
            self._loop = None
            self._sftp = None
            self._conn = None

    async def _close_and_cancel(self) -> None:
        """Close the connection, then cancel whatever asyncssh left running on the loop."""
        await self._close_connection()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_asyncgens()

    async def _close_connection(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
        if self._conn is not None:
            self._conn.close()
            try:
                async with asyncio.timeout(5):
                    await self._conn.wait_closed()
            except TimeoutError:
                self._conn.abort()

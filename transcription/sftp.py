"""SFTP I/O for pulling call recordings: a small synchronous facade over asyncssh.

Nothing here touches Django; callers (Celery tasks) pass everything in an `SftpTarget`.
Each `SftpSession` owns a private asyncio event loop and runs it in the calling thread,
so one session must only be used from the thread that created it.

Host keys are pinned: the server must present exactly the key whose SHA256 fingerprint
the target names. Nothing is read from ~/.ssh (no known_hosts, config, agent or keys).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
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
from typing import TYPE_CHECKING, Any, NoReturn, cast

import asyncssh
from asyncssh.public_key import get_default_public_key_algs

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
    """A regular file on the server; `path` is POSIX and relative to the target's remote_dir."""

    path: str
    size: int
    mtime: int


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
        raise ValueError(f"无法读取 OpenSSH 公钥：{exc}") from None
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
        raise SftpError(f"主机公钥指纹格式无效（应为 ssh-keygen -lf 输出的 SHA256:…）：{value!r}")
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
    """A single directory entry name we are willing to turn into a path."""
    return (
        bool(name) and name not in (".", "..") and "/" not in name and not _CONTROL_RE.search(name)
    )


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

    def download(self, remote: RemoteFile, dest_dir: Path) -> DownloadedFile:
        """Stream `remote` into a new ".part-*" temp file in dest_dir, verifying size; return it.

        The temp file is removed on any error; on success the caller owns (renames) it.
        """
        remote_path = self._remote_path(remote)
        if remote.size < 0:
            raise SftpError(f"远程文件大小无效：{remote.path}（{remote.size}）")
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=dest_dir)
        except OSError as exc:
            raise SftpError(f"无法在 {dest_dir} 创建临时文件：{exc.strerror or exc}") from None
        tmp_path = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:

                def sink(data: bytes) -> None:
                    out.write(data)
                    digest.update(data)

                received = self._run(self._fetch(remote, remote_path, sink))
                out.flush()
                os.fsync(out.fileno())
            if received != remote.size:
                raise SftpError(
                    f"下载 {self._where} 的 {remote.path} 不完整：收到 {received} 字节，"
                    f"应为 {remote.size} 字节"
                )
        except BaseException as exc:
            tmp_path.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise SftpError(
                    f"写入临时文件失败（{remote.path}）：{exc.strerror or exc}"
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
                raise SftpError(f"SFTP 私钥无法解析（{self._where}）：{exc}") from None
        if password is None and client_keys is None:
            raise SftpError(f"未提供 SFTP 密码或私钥（{self._where}）")

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
            actual = client.presented_fingerprint or "（服务器未提供可校验的普通主机公钥）"
            raise HostKeyMismatchError(
                f"SFTP 服务器 {self._where} 的主机公钥与配置不符，已拒绝连接："
                f"期望 {expected}，实际 {actual}"
            ) from None
        except asyncssh.PermissionDenied:
            raise SftpError(
                f"SFTP 认证失败 {self._where}（用户 {target.username}）：用户名、密码或私钥不正确"
            ) from None
        except TimeoutError:
            raise SftpError(
                f"连接 SFTP 服务器 {self._where} 超时（{target.connect_timeout_s:g} 秒）"
            ) from None
        except Exception as exc:
            self._raise_mapped(exc, "无法连接 SFTP 服务器")
        self._conn = conn
        try:
            async with asyncio.timeout(target.connect_timeout_s):
                self._sftp = await conn.start_sftp_client()
        except TimeoutError:
            raise SftpError(f"启动 SFTP 会话超时 {self._where}") from None
        except Exception as exc:
            self._raise_mapped(exc, "无法启动 SFTP 会话")
        limits_read = self._sftp.limits.max_read_len
        # asyncssh's own no-limits default (16 KiB) is too cautious; honour real limits if smaller.
        self._block_size = (
            min(_MAX_BLOCK, limits_read) if limits_read > 16 * 1024 else _FALLBACK_BLOCK
        )

    async def _list(self, recursive: bool) -> list[RemoteFile]:
        sftp = self._require_sftp()
        found: list[RemoteFile] = []
        pending: list[tuple[str, int]] = [("", 0)]
        while pending:
            rel_dir, depth = pending.pop()
            dir_path = (
                posixpath.join(self._remote_root, rel_dir.encode())
                if rel_dir
                else self._remote_root
            )
            try:
                entries = await self._io(sftp.readdir(dir_path))
            except Exception as exc:
                self._raise_mapped(exc, f"无法列出远程目录 {dir_path.decode(errors='replace')}")
            for entry in entries:
                raw = cast(bytes, entry.filename)
                if raw in (b".", b".."):
                    continue
                try:
                    name = raw.decode("utf-8")
                except UnicodeDecodeError:
                    logger.warning(
                        "skipping remote entry with a non-UTF-8 name on %s in %r: %r",
                        self._where,
                        rel_dir or ".",
                        raw,
                    )
                    continue
                if not _valid_name(name):
                    logger.warning(
                        "skipping remote entry with an unsafe name on %s in %r: %r",
                        self._where,
                        rel_dir or ".",
                        name,
                    )
                    continue
                rel_path = posixpath.join(rel_dir, name) if rel_dir else name
                attrs = entry.attrs
                kind = _file_kind(attrs)
                if kind is None or (kind == "file" and (attrs.size is None or attrs.mtime is None)):
                    # READDIR gave no type/size: ask with lstat, which never follows links.
                    try:
                        attrs = await self._io(sftp.lstat(posixpath.join(dir_path, raw)))
                    except Exception as exc:
                        self._raise_mapped(exc, f"无法读取远程文件属性 {rel_path}")
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
                    pending.append((rel_path, depth + 1))
                elif kind == "file" and attrs.size is not None:
                    found.append(
                        RemoteFile(path=rel_path, size=attrs.size, mtime=int(attrs.mtime or 0))
                    )
                else:
                    logger.debug(
                        "skipping non-regular remote entry %s on %s", rel_path, self._where
                    )
        found.sort(key=lambda remote: remote.path)
        return found

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
        try:
            remote_file = await self._io(sftp.open(remote_path, "rb", block_size=block))
        except Exception as exc:
            self._raise_mapped(exc, f"无法打开远程文件 {remote.path}")
        try:
            next_offset = 0
            while True:
                while len(inflight) < depth and next_offset < remote.size:
                    length = min(block, remote.size - next_offset)
                    inflight.append(
                        (length, asyncio.ensure_future(remote_file.read(length, next_offset)))
                    )
                    next_offset += length
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
            # One byte past the expected end must be EOF, otherwise the file is still growing.
            if await self._io(remote_file.read(1, remote.size)):
                raise SftpError(
                    f"远程文件 {remote.path}（{self._where}）比预期的 {remote.size} 字节大，"
                    "可能仍在写入"
                )
            return received
        except SftpError:
            raise
        except Exception as exc:
            self._raise_mapped(exc, f"下载远程文件 {remote.path} 失败")
        finally:
            # Outstanding reads end quickly (EOF, or error on a dropped connection); let them.
            await _settle([future for _, future in inflight])
            try:
                async with asyncio.timeout(5):
                    await remote_file.close()
            except Exception:  # noqa: S110 - best effort; the real error is already propagating
                pass

    # -- helpers ---------------------------------------------------------------------------

    def _remote_path(self, remote: RemoteFile) -> bytes:
        """Join a listed relative path under remote_dir, refusing anything that could escape it."""
        parts = remote.path.split("/")
        if not remote.path or not all(_valid_name(part) for part in parts):
            raise SftpError(f"拒绝不安全的远程路径：{remote.path!r}")
        return posixpath.join(self._remote_root, remote.path.encode("utf-8"))

    def _require_sftp(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            raise SftpError("SFTP 会话未连接（请在 with SftpSession(...) 块内使用）")
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
                f"SFTP 服务器 {self._where} 在 {self._target.io_timeout_s:g} 秒内没有响应，"
                "已断开连接"
            ) from None

    def _raise_mapped(self, exc: BaseException, action: str) -> NoReturn:
        """Turn asyncssh/OS errors into SftpError with a readable reason (never secrets)."""
        if isinstance(exc, SftpError):
            raise exc
        if isinstance(exc, asyncssh.SFTPNoSuchFile):
            reason = f"文件或目录不存在（{exc.reason}）"
        elif isinstance(exc, asyncssh.SFTPPermissionDenied):
            reason = f"没有权限（{exc.reason}）"
        elif isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.ConnectionLost):
            reason = f"连接已断开（{exc.reason}）"
        elif isinstance(
            exc, asyncssh.DisconnectError | asyncssh.SFTPError | asyncssh.ChannelOpenError
        ):
            reason = exc.reason or type(exc).__name__
        elif isinstance(exc, socket.gaierror):
            reason = f"无法解析主机名（{exc.strerror}）"
        elif isinstance(exc, BrokenPipeError | ConnectionResetError | ConnectionAbortedError):
            reason = f"连接已断开（{os.strerror(exc.errno) if exc.errno else exc}）"
        elif isinstance(exc, OSError):
            # asyncio's strerror is "Connect call failed (...)"; the errno text says *why*.
            reason = os.strerror(exc.errno) if exc.errno else (str(exc) or type(exc).__name__)
        elif isinstance(exc, ValueError):  # e.g. asyncssh cannot determine the local username
            reason = str(exc)
        else:
            raise exc
        raise SftpError(f"{action} {self._where}：{reason}") from exc

    def _run(self, coro: Coroutine[object, object, _T]) -> _T:
        if self._loop is None or self._loop.is_closed():
            coro.close()  # never started; closing avoids a "never awaited" warning
            raise SftpError("SFTP 会话未连接（请在 with SftpSession(...) 块内使用）")
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

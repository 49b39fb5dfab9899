"""A small local SFTP server (asyncssh) for the demo command, tests and operators testing a source.

It listens on 127.0.0.1 only, serves one directory read-write and confines clients to it:
besides asyncssh's path chroot, every operation that would follow a symlink is checked so
that a link inside the root cannot expose files outside it.

Run in the foreground:
    python -m transcription.demo_sftp ROOT --port 2222 --user demo \
        --password-env VAR --host-key PATH
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import asyncssh

from transcription.sftp import host_key_fingerprint

if TYPE_CHECKING:
    # asyncssh's own alias for "os.stat_result or SFTPAttrs, possibly awaitable"; typing only.
    from asyncssh.misc import MaybeAwait
    from asyncssh.sftp import _SFTPOSAttrs

logger = logging.getLogger(__name__)

_BIND_HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0


def _load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """Read an OpenSSH private host key, creating an ed25519 one (mode 0600) if missing."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL + 0600 at creation: the private key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    return key


class _ConfinedSftpServer(asyncssh.SFTPServer):
    """asyncssh's chroot plus a realpath check wherever a symlink would be followed."""

    def __init__(self, chan: asyncssh.SSHServerChannel, *, root: bytes) -> None:
        super().__init__(chan, chroot=root)
        self._root = os.path.realpath(root)

    def _inside(self, local: bytes) -> bool:
        return local == self._root or local.startswith(self._root + b"/")

    def map_path(self, path: bytes) -> bytes:
        """Map into the root; the parent must resolve inside it (the entry itself may be a link)."""
        local = super().map_path(path)
        parent, name = os.path.split(local)
        if not self._inside(os.path.realpath(parent)):
            raise asyncssh.SFTPPermissionDenied("Path is outside the served directory")
        return os.path.join(os.path.realpath(parent), name) if name else os.path.realpath(parent)

    def _resolved(self, path: bytes) -> bytes:
        """Check that a path about to be followed resolves inside the root; return it unchanged."""
        local = self.map_path(path)
        if not self._inside(os.path.realpath(local)):
            raise asyncssh.SFTPPermissionDenied("Symlink points outside the served directory")
        return path

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        """Open a file, refusing links that lead outside the root."""
        return super().open(self._resolved(path), pflags, attrs)

    def stat(self, path: bytes) -> MaybeAwait[_SFTPOSAttrs]:
        """Stat (following links), refusing links that lead outside the root."""
        return super().stat(self._resolved(path))

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        """Set attributes (following links), refusing links that lead outside the root."""
        super().setstat(self._resolved(path), attrs)

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        """List a directory, refusing a symlinked directory that leads outside the root."""
        async for name in super().scandir(self._resolved(path)):
            yield name

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        """Hard-link, refusing to pull an outside file in through a symlink."""
        super().link(self._resolved(oldpath), newpath)


class _DemoSshServer(asyncssh.SSHServer):
    """Password (and optionally one public key) authentication for a single user."""

    def __init__(self, owner: LocalSftpServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Track the connection so stop() can drop it."""
        self._conn = conn
        self._owner._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        if self._conn is not None:
            self._owner._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        """Always require authentication."""
        return True

    def password_auth_supported(self) -> bool:
        """Passwords are always accepted as a method."""
        return True

    def validate_password(self, username: str, password: str) -> bool:
        """Constant-time check of both username and password."""
        self._owner.auth_attempts += 1
        user_ok = hmac.compare_digest(username.encode(), self._owner.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self._owner._password.encode())
        return user_ok and password_ok

    def public_key_auth_supported(self) -> bool:
        """Only when an authorized client key was configured."""
        return self._owner._authorized_key is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Accept only the configured key for the configured user; asyncssh checks the signature."""
        self._owner.auth_attempts += 1
        authorized = self._owner._authorized_key
        if authorized is None:
            return False
        user_ok = hmac.compare_digest(username.encode(), self._owner.username.encode())
        return user_ok and key.public_data == authorized.public_data


class LocalSftpServer:
    """An SFTP server on 127.0.0.1 serving one directory read-write, chrooted to it.

    Used by the product's demo command and by tests.
    """

    def __init__(
        self,
        root: Path,
        *,
        username: str,
        password: str,
        host_key_path: Path,
        port: int = 0,
        authorized_client_key: str | None = None,
    ) -> None:
        """Configure; the host key is loaded (or created) now so its fingerprint is known."""
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ValueError(f"SFTP root is not a directory: {self.root}")
        self.username = username
        self._password = password
        self._requested_port = port
        self.port = port
        self._host_key = _load_or_create_host_key(Path(host_key_path))
        self.host_key_fingerprint = host_key_fingerprint(
            self._host_key.export_public_key().decode("ascii")
        )
        self._authorized_key = (
            asyncssh.import_public_key(authorized_client_key) if authorized_client_key else None
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        # Credential checks seen so far; lets tests prove a client sent nothing to the wrong server.
        self.auth_attempts = 0

    def __repr__(self) -> str:
        return (
            f"LocalSftpServer(root={str(self.root)!r}, port={self.port}, "
            f"username={self.username!r})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening in a background daemon thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._acceptor = loop.run_until_complete(self._listen())
                self.port = self._acceptor.get_port()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name=f"demo-sftp-{self.root.name}", daemon=True)
        thread.start()
        if not ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("demo SFTP server did not start in time")
        if failure:
            thread.join()
            raise failure[0]
        self._loop = loop
        self._thread = thread

    def stop(self) -> None:
        """Stop listening, drop every open connection and join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._close(), loop)
            future.result(timeout=_START_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_START_TIMEOUT_S)
            self._loop = None
            self._thread = None
            self._acceptor = None
            self.port = self._requested_port

    def __enter__(self) -> LocalSftpServer:
        """Start the server."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # -- async internals -------------------------------------------------------------------

    async def _listen(self) -> asyncssh.SSHAcceptor:
        root = os.fsencode(self.root)
        return await asyncssh.listen(
            _BIND_HOST,
            self._requested_port,
            server_factory=lambda: _DemoSshServer(self),
            server_host_keys=[self._host_key],
            sftp_factory=lambda chan: _ConfinedSftpServer(chan, root=root),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            # Read nothing from ~/.ssh or /etc/ssh on the machine running the demo.
            config=None,
            authorized_client_keys=None,
            gss_host=None,
            login_timeout=30,
            keepalive_interval=30,
        )

    async def _close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(self._connections):
            conn.abort()
        if self._acceptor is not None:
            await self._acceptor.wait_closed()


def main(argv: Sequence[str] | None = None) -> int:
    """Run a demo SFTP server in the foreground until Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m transcription.demo_sftp",
        description="Serve a directory over SFTP on 127.0.0.1 (demo / source testing).",
    )
    parser.add_argument("root", type=Path, help="directory to serve (read-write)")
    parser.add_argument("--port", type=int, default=2222, help="TCP port (0 = any free port)")
    parser.add_argument("--user", default="demo", help="login name (default: demo)")
    parser.add_argument(
        "--password-env",
        required=True,
        metavar="VAR",
        help="name of the environment variable holding the password",
    )
    parser.add_argument(
        "--host-key",
        required=True,
        type=Path,
        metavar="PATH",
        help="OpenSSH private host key; an ed25519 key is created there if missing",
    )
    parser.add_argument(
        "--authorized-key",
        type=Path,
        metavar="PUBKEY",
        help="optional OpenSSH public key file also allowed to log in",
    )
    args = parser.parse_args(argv)

    password = os.environ.get(args.password_env)
    if not password:
        parser.error(f"environment variable {args.password_env} is not set or empty")
    authorized = args.authorized_key.read_text() if args.authorized_key else None

    server = LocalSftpServer(
        args.root,
        username=args.user,
        password=password,
        host_key_path=args.host_key,
        port=args.port,
        authorized_client_key=authorized,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"SFTP server listening on {_BIND_HOST}:{server.port}", flush=True)
        print(f"root: {server.root}", flush=True)
        print(f"user: {server.username}", flush=True)
        print(f"host key fingerprint: {server.host_key_fingerprint}", flush=True)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

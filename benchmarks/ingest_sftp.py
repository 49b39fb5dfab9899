"""SFTP ingest benchmark: our `SftpSession` against OpenSSH's own `sftp` client.

Both clients talk to the same real OpenSSH `sshd` (started here on 127.0.0.1, internal-sftp),
with the same cipher. See benchmarks/README.md. Last stdout line: `RESULT {json}`.

    .venv/bin/python benchmarks/ingest_sftp.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from any directory

import asyncssh  # noqa: E402

import transcription.sftp as sftp  # noqa: E402

MIB = 1024 * 1024
HAVE_PARAMIKO = importlib.util.find_spec("paramiko") is not None
# Forced by sshd for both clients: SftpSession's first choice of cipher, and the key exchange it
# gets from this sshd (OpenSSH's own default, sntrup761x25519, costs ~0.13 s more per connect).
CIPHER = "aes128-gcm@openssh.com"
KEX = "curve25519-sha256"
SSHD = "/usr/sbin/sshd"
RUN_SSHD = Path("/run/sshd")  # sshd's privilege-separation directory

SessionFactory = Callable[[str], sftp.SftpSession]  # remote_dir -> unopened session
DecideCallback = Callable[[list[sftp.RemoteFile]], object]


@dataclass(frozen=True)
class Sizes:
    small_count: int
    small_bytes: int
    large_count: int
    large_bytes: int
    list_count: int


FULL = Sizes(200, 1 * MIB, 3, 200 * MIB, 10_000)
QUICK = Sizes(50, 1 * MIB, 1, 50 * MIB, 2_000)


@dataclass(frozen=True)
class Server:
    port: int
    user: str
    key_path: Path
    fingerprint: str
    workdir: Path


# -- server and data ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if s.recv(64).startswith(b"SSH-"):
                return
        time.sleep(0.05)
    raise RuntimeError("sshd did not start in time")


@contextlib.contextmanager
def openssh_server(workdir: Path) -> Iterator[Server]:
    """A throwaway sshd on 127.0.0.1 accepting one generated key for the current user."""
    user = pwd.getpwuid(os.getuid()).pw_name
    for name in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / name)], check=True
        )
    shutil.copy(workdir / "client_key.pub", workdir / "authorized_keys")
    port = _free_port()
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'host_key'}\n"
        f"PidFile {workdir / 'sshd.pid'}\nAuthorizedKeysFile {workdir / 'authorized_keys'}\n"
        # The @libssh.org name is the same key exchange; paramiko only knows that one.
        f"Ciphers {CIPHER}\nKexAlgorithms {KEX},curve25519-sha256@libssh.org\n"
        "Subsystem sftp internal-sftp\nStrictModes no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nAllowUsers {user}\nUseDNS no\nLogLevel ERROR\n"
    )
    created_run_dir = False
    if not RUN_SSHD.exists():
        RUN_SSHD.mkdir(mode=0o755, parents=True)
        created_run_dir = True
    log = (workdir / "sshd.log").open("wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log)
    try:
        _wait_for_banner(port, proc)
        fingerprint = sftp.host_key_fingerprint(workdir / "host_key.pub")
        yield Server(port, user, workdir / "client_key", fingerprint, workdir)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}: {(workdir / 'sshd.log').read_text(errors='replace')}") from None
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if created_run_dir:
            shutil.rmtree(RUN_SSHD, ignore_errors=True)


def make_data(served: Path, sizes: Sizes) -> dict[str, Path]:
    """Random (incompressible) files: small/ and large/ to transfer, many/ to list."""
    dirs = {name: served / name for name in ("small", "large", "many")}
    for path in dirs.values():
        path.mkdir(parents=True)
    for index in range(sizes.small_count):
        (dirs["small"] / f"call-{index:04d}.wav").write_bytes(os.urandom(sizes.small_bytes))
    for index in range(sizes.large_count):
        with (dirs["large"] / f"long-{index}.wav").open("wb") as out:
            for _ in range(sizes.large_bytes // (8 * MIB)):
                out.write(os.urandom(8 * MIB))
            out.write(os.urandom(sizes.large_bytes % (8 * MIB)))
    for index in range(sizes.list_count):
        (dirs["many"] / f"20261125-{index:05d}-agent{index % 97:02d}.wav").write_bytes(b"x")
    return dirs


def prepare_run(sources: list[Path], dest: Path) -> None:
    """Same start for every timed run: empty dest, warm source cache, no dirty pages."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    for path in sources:
        with path.open("rb") as handle:
            while handle.read(8 * MIB):
                pass
    os.sync()


# -- clients -----------------------------------------------------------------------------------


def run_openssh_sftp(server: Server, commands: list[str], timeout: float = 300) -> float:
    """Wall time of one `sftp -b` batch (process start, connect and auth included)."""
    batch = server.workdir / "batch.txt"
    batch.write_text("\n".join(commands) + "\n")
    command = [
        "sftp", "-q", "-b", str(batch), "-i", str(server.key_path), "-P", str(server.port),
        "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", f"Ciphers={CIPHER}", "-o", f"KexAlgorithms={KEX}",
        "-o", "LogLevel=ERROR",
        f"{server.user}@127.0.0.1",
    ]  # fmt: skip
    return timed(
        lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=timeout)
    )


def session_factory_for(server: Server) -> SessionFactory:
    """Pinned host key and private-key auth, exactly as a configured source would connect."""
    template = sftp.SftpTarget(
        host="127.0.0.1",
        port=server.port,
        username=server.user,
        host_key_fingerprint=server.fingerprint,
        remote_dir="/",
        private_key=server.key_path.read_text(),
    )
    return lambda remote_dir: sftp.SftpSession(replace(template, remote_dir=remote_dir))


# A source's default `max_transfers`: a pull downloads on this many connections at once.
DEFAULT_TRANSFERS = 2


def ours_download_all(session_factory: SessionFactory, remote_dir: Path, dest: Path,
                      transfers: int = DEFAULT_TRANSFERS) -> float:
    """Our real path: connect, list, download (sha256 + fsync) on `transfers` connections,
    move into place — as `source_pull` does with the source's `max_transfers`."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    def run() -> None:
        with session_factory(str(remote_dir)) as session:
            listing = session.list_files()
            if transfers <= 1:
                for remote in listing:
                    downloaded = session.download(remote, dest)
                    os.replace(downloaded.local_path, dest / remote.path)
                return
            local = threading.local()
            opened: list[sftp.SftpSession] = []
            lock = threading.Lock()

            def fetch(remote: sftp.RemoteFile) -> None:
                if not hasattr(local, "session"):
                    local.session = session_factory(str(remote_dir)).__enter__()
                    with lock:
                        opened.append(local.session)
                downloaded = local.session.download(remote, dest)
                os.replace(downloaded.local_path, dest / remote.path)

            try:
                with ThreadPoolExecutor(transfers) as pool:
                    list(pool.map(fetch, listing))
            finally:
                for extra in opened:
                    extra.__exit__(None, None, None)

    return timed(run)


def asyncssh_readdir(server: Server, remote_dir: Path) -> float:
    """The bare asyncssh call our listing is built on (connect included)."""

    async def run() -> int:
        async with (
            asyncssh.connect(
                "127.0.0.1", server.port, username=server.user, client_keys=[str(server.key_path)],
                known_hosts=None, config=None, agent_path=None, encryption_algs=[CIPHER],
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):  # fmt: skip
            return len(await sftp.readdir(str(remote_dir)))

    return timed(lambda: asyncio.run(run()))


def paramiko_download_all(server: Server, remote_dir: Path, dest: Path) -> float:
    """The same work as ours (list, download with sha256 and fsync) through paramiko."""
    import hashlib

    import paramiko

    def run() -> None:
        with paramiko.SSHClient() as client:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            # Same cipher as the other two clients.
            client.connect("127.0.0.1", port=server.port, username=server.user,
                           key_filename=str(server.key_path), allow_agent=False,
                           look_for_keys=False, disabled_algorithms={"ciphers": [
                               c for c in paramiko.Transport._preferred_ciphers if c != CIPHER]})
            with client.open_sftp() as sftp_client:
                for attrs in sftp_client.listdir_attr(str(remote_dir)):
                    with (dest / attrs.filename).open("wb") as out:
                        sink = _HashingWriter(out, hashlib.sha256())
                        sftp_client.getfo(f"{remote_dir}/{attrs.filename}", sink)
                        out.flush()
                        os.fsync(out.fileno())

    return timed(run)


class _HashingWriter:
    def __init__(self, out: Any, digest: Any) -> None:
        self._out, self._digest = out, digest

    def write(self, data: bytes) -> None:
        self._out.write(data)
        self._digest.update(data)


NEW_SHARE = 0.01  # a nightly listing: the directory's files are known but for the newest 1 %

LEDGER_INFO: dict[str, float] = {}


def ledger_decide(workdir: Path) -> DecideCallback:
    """The product's "what is new" step: the source ledger, in a fresh SQLite database.

    The first call meets every file for the first time (the first pull of a source; its
    time is reported as `ledger_first_sight_s`). Every later call is a nightly run: the
    ledger knows all files but the newest 1 %, which it must find and record.
    """
    os.environ["QA_DATA_DIR"] = str(workdir / "qa-data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qa_platform.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from transcription.models import RecordingSource, SourceFile
    from transcription.services.pull_plan import path_key, plan_pull

    call_command("migrate", verbosity=0)
    source = RecordingSource.objects.create(name="benchmark", kind="local",
                                            remote_dir=str(workdir), include_globs="*",
                                            stable_seconds=0)

    def ledger_plan_nightly(listing: list[sftp.RemoteFile]) -> object:
        if "ledger_first_sight_s" not in LEDGER_INFO:
            started = time.perf_counter()
            plan = plan_pull(source, listing, now=timezone.now())
            LEDGER_INFO["ledger_first_sight_s"] = round(time.perf_counter() - started, 3)
            assert plan.new == len(listing)
            return plan
        newest = [path_key(remote) for remote in listing[:: int(1 / NEW_SHARE)]]
        SourceFile.objects.filter(source=source, path_key__in=newest).delete()
        plan = plan_pull(source, listing, now=timezone.now())
        assert plan.new == len(newest)
        return plan

    return ledger_plan_nightly


def best_of(repeats: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeats))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# -- measurements ------------------------------------------------------------------------------


def measure_transfer(
    server: Server,
    session_factory: SessionFactory,
    files_dir: Path,
    repeats: int,
    connect: dict[str, float],
) -> dict[str, float | int]:
    """Best wall time per client (connect included); "net" also subtracts the connect cost."""
    files = sorted(files_dir.iterdir())
    total = sum(path.stat().st_size for path in files)
    dest = server.workdir / "dest"
    gets = [f'get "{path}" "{dest}/"' for path in files]
    raw: list[float] = []
    ours: list[float] = []
    alternative: list[float] = []
    parallel: list[float] = []
    for _ in range(repeats):  # interleaved, so drift affects every client alike
        prepare_run(files, dest)
        raw.append(run_openssh_sftp(server, gets))
        prepare_run(files, dest)
        # One connection, like the raw client: the primary comparison.
        ours.append(ours_download_all(session_factory, files_dir, dest, transfers=1))
        prepare_run(files, dest)
        parallel.append(ours_download_all(session_factory, files_dir, dest))
        if HAVE_PARAMIKO:
            prepare_run(files, dest)
            alternative.append(paramiko_download_all(server, files_dir, dest))
    shutil.rmtree(dest, ignore_errors=True)
    raw_s, ours_s = min(raw), min(ours)
    raw_net, ours_net = raw_s - connect["raw_s"], ours_s - connect["ours_s"]
    paramiko_result = (
        {"paramiko_s": round(min(alternative), 3),
         "paramiko_ratio": round(raw_s / min(alternative), 3)} if alternative else {}
    )
    return {
        **paramiko_result,
        # The product's default max_transfers; on a 2-core loopback box it does not help.
        "ours_parallel_transfers": DEFAULT_TRANSFERS,
        "ours_parallel_s": round(min(parallel), 3),
        "ours_parallel_ratio": round(raw_s / min(parallel), 3),
        "files": len(files),
        "bytes": total,
        "raw_s": round(raw_s, 3),
        "ours_s": round(ours_s, 3),
        "raw_mib_s": round(total / MIB / raw_s, 1),
        "ours_mib_s": round(total / MIB / ours_s, 1),
        "ratio": round(raw_s / ours_s, 3),  # throughput ours / raw
        "raw_net_mib_s": round(total / MIB / raw_net, 1),
        "ours_net_mib_s": round(total / MIB / ours_net, 1),
        "ratio_net": round(raw_net / ours_net, 3),
    }


def measure_listing(
    session_factory: SessionFactory,
    server: Server,
    list_dir: Path,
    repeats: int,
    decide: DecideCallback | None = None,
) -> dict[str, float | int | str]:
    """Seconds to list `list_dir`: OpenSSH `ls -l`, bare asyncssh readdir, and ours.

    `decide` (e.g. the "which files are new" database step) runs inside our timed region.
    """
    count = sum(1 for _ in list_dir.iterdir())

    def ours() -> None:
        with session_factory(str(list_dir)) as session:
            listing = session.list_files()
            if decide is not None:
                decide(listing)
        assert len(listing) == count, (len(listing), count)

    raw_s = best_of(repeats, lambda: run_openssh_sftp(server, [f'ls -l "{list_dir}"']))
    readdir_s = best_of(repeats, lambda: asyncssh_readdir(server, list_dir))
    ours_s = best_of(repeats, lambda: timed(ours))
    return {
        "files": count,
        "raw": "openssh sftp -b 'ls -l' (process start + connect included)",
        "raw_s": round(raw_s, 3),
        "asyncssh_readdir_s": round(readdir_s, 3),
        "ours_s": round(ours_s, 3),
        "ratio": round(ours_s / raw_s, 3),
        "ratio_vs_readdir": round(ours_s / readdir_s, 3),
        "decide": getattr(decide, "__name__", "none") if decide else "none",
    }


def measure_connect(
    server: Server, session_factory: SessionFactory, repeats: int
) -> dict[str, float]:
    """Fixed per-session cost (connect, auth, SFTP start) included in every wall time."""

    def ours() -> None:
        with session_factory(str(server.workdir)):
            pass

    return {
        "raw_s": round(best_of(repeats, lambda: run_openssh_sftp(server, ["pwd"])), 3),
        "ours_s": round(best_of(repeats, lambda: timed(ours)), 3),
    }


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("benchmark exceeded its time limit")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="50x1 MiB, 1x50 MiB, 2,000 to list")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; best kept")
    parser.add_argument("--timeout", type=int, default=0, help="overall limit in s (0 = auto)")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where data is written")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.timeout or (120 if args.quick else 900))
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="ingest-sftp-", dir=args.tmpdir) as tmp:
            workdir = Path(tmp)
            dirs = make_data(workdir / "served", sizes)
            with openssh_server(workdir) as server:
                factory = session_factory_for(server)
                connect = measure_connect(server, factory, max(args.repeats, 3))
                small = measure_transfer(server, factory, dirs["small"], args.repeats, connect)
                large = measure_transfer(server, factory, dirs["large"], args.repeats, connect)
                listing = measure_listing(factory, server, dirs["many"], args.repeats,
                                          decide=ledger_decide(workdir))
    finally:
        signal.alarm(0)
    raw_total = float(small["raw_s"]) + float(large["raw_s"])
    ours_total = float(small["ours_s"]) + float(large["ours_s"])
    transfer_ratio = round(raw_total / ours_total, 3)
    result = {
        "quick": args.quick,
        "repeats": args.repeats,
        "cipher": CIPHER,
        "kex": KEX,
        "asyncssh": asyncssh.__version__,
        "transfer_small": small,
        "transfer_large": large,
        "listing": listing,
        "connect": connect,
        "paramiko": "measured: see transfer_*.paramiko_ratio" if HAVE_PARAMIKO
        else "not installed (pip install paramiko, or the project's dev extra, to compare)",
        "transfer_ratio": transfer_ratio,
        "transfer_target": 0.8,
        "listing_ratio": listing["ratio"],
        **LEDGER_INFO,
        "listing_target_max": 5.0,
        "meets_targets": transfer_ratio >= 0.8 and float(listing["ratio"]) <= 5.0,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

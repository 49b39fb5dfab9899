"""Pulling recordings from a source: one run per source at a time, every file exactly once."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Protocol

from celery.schedules import crontab
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from qa_i18n import msg
from transcription.asr.base import CallMetadata
from transcription.call_metadata import MetadataError, from_filename, from_sidecar, merge
from transcription.localdir import LocalDirSession
from transcription.models import IngestRun, RecordingSource, SourceFile
from transcription.secrets import SecretReferenceError, resolve_secret
from transcription.services.pull_plan import PullPlan, plan_pull, sidecar_for
from transcription.services.registration import (
    AudioCheck,
    TombstonedError,
    audio_check,
    recording_register,
)
from transcription.sftp import DownloadedFile, RemoteFile, SftpError, SftpSession, SftpTarget
from transcription.storage import incoming_dir

logger = logging.getLogger(__name__)


class SourceConfigError(Exception):
    """The source is configured wrongly; the message is shown on the source."""


class RemoteSession(Protocol):
    def __enter__(self) -> RemoteSession: ...
    def __exit__(self, *exc: object) -> None: ...
    def list_files(self, *, recursive: bool = False) -> list[RemoteFile]: ...
    def stat(self, remote: RemoteFile) -> RemoteFile: ...
    def download(self, remote: RemoteFile, dest_dir: os.PathLike[str]) -> DownloadedFile: ...
    def rename(self, remote: RemoteFile, dest_dir: str) -> str: ...
    def remove(self, remote: RemoteFile) -> None: ...


@dataclass(frozen=True)
class Fetched:
    """One recording's files, downloaded; every temporary file is the caller's to move."""

    remote: RemoteFile
    entry: SourceFile
    audio: DownloadedFile | None = None
    sidecars: tuple[tuple[str, DownloadedFile], ...] = ()
    # The remote sidecars themselves: they follow the audio when it is moved or deleted.
    sidecar_remotes: tuple[RemoteFile, ...] = ()
    error: str = ""
    # The file changed while we read it: it is not stable after all.
    changed: RemoteFile | None = None
    # ffprobe's verdict, made in the transfer worker so probes run in parallel too.
    audio_check: AudioCheck | None = None

    def discard(self) -> None:
        for downloaded in (self.audio, *(d for _, d in self.sidecars)):
            if downloaded is not None:
                downloaded.local_path.unlink(missing_ok=True)


ProgressCallback = Callable[[IngestRun, int], None]


def source_target(source: RecordingSource) -> SftpTarget:
    """Connection details with secrets resolved from their references."""
    try:
        password = resolve_secret(source.password_ref)
        private_key = resolve_secret(source.private_key_ref)
    except SecretReferenceError as exc:
        raise SourceConfigError(str(exc)) from None
    if not password and not private_key:
        raise SourceConfigError(msg("未配置密码引用或私钥引用"))
    if not source.host_key_fingerprint.startswith("SHA256:"):
        raise SourceConfigError(msg("主机公钥指纹必须是 SHA256:… 格式"))
    return SftpTarget(
        host=source.host,
        port=source.port,
        username=source.username,
        host_key_fingerprint=source.host_key_fingerprint,
        remote_dir=source.remote_dir,
        password=password,
        private_key=private_key,
        connect_timeout_s=settings.SFTP_CONNECT_TIMEOUT_S,
    )


def source_session_factory(source: RecordingSource) -> Callable[[], RemoteSession]:
    if source.kind == RecordingSource.Kind.LOCAL:
        return lambda: LocalDirSession(source.remote_dir)  # type: ignore[return-value]
    target = source_target(source)
    return lambda: SftpSession(target)  # type: ignore[return-value]


# --- the per-source lease -------------------------------------------------------------


def source_lock_acquire(*, source_id: int, owner: str) -> bool:
    """Take the source's pull lease unless a live one exists; an expired lease is taken over."""
    now = timezone.now()
    return bool(
        RecordingSource.objects.filter(id=source_id)
        .filter(Q(lock_expires_at__isnull=True) | Q(lock_expires_at__lt=now))
        .update(lock_owner=owner, lock_expires_at=now + _lock_ttl())
    )


def source_lock_renew(*, source_id: int, owner: str) -> bool:
    return bool(
        RecordingSource.objects.filter(id=source_id, lock_owner=owner).update(
            lock_expires_at=timezone.now() + _lock_ttl()
        )
    )


def source_lock_release(*, source_id: int, owner: str) -> None:
    RecordingSource.objects.filter(id=source_id, lock_owner=owner).update(
        lock_owner="", lock_expires_at=None
    )


def _lock_ttl() -> timedelta:
    return timedelta(seconds=settings.INGEST_LOCK_TTL_S)


# --- pulling --------------------------------------------------------------------------


def source_pull_preview(*, source_id: int) -> PullPlan:
    """What a pull would take now, without downloading or recording anything."""
    source = RecordingSource.objects.get(id=source_id)
    with source_session_factory(source)() as session:
        listing = session.list_files(recursive=source.recursive)
    return plan_pull(source, listing, now=timezone.now(), record=False)


def source_pull(*, source_id: int, progress: ProgressCallback | None = None) -> IngestRun | None:
    """List the source, take every stable new file, register it; None if a pull is running.

    One file failing never stops the others; it is retried on the next run.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not source_lock_acquire(source_id=source_id, owner=owner):
        logger.info("source %s is being pulled already; skipping", source_id)
        return None
    source = RecordingSource.objects.get(id=source_id)
    run = IngestRun.objects.create(source=source)
    try:
        factory = source_session_factory(source)
        with factory() as session:
            plan = plan_pull(
                source, session.list_files(recursive=source.recursive), now=timezone.now()
            )
            run.listed, run.new, run.waiting = plan.listed, plan.new, plan.waiting
            run.skipped = plan.skipped + plan.too_large
            run.ready = len(plan.ready)
            _save_progress(run)
            saved = time.monotonic()
            fetches = _fetch_all(source, plan, factory, session)
            for done, fetched in enumerate(fetches, start=1):
                _take(source, session, fetched, run)
                source_lock_renew(source_id=source.id, owner=owner)
                if time.monotonic() - saved >= _PROGRESS_EVERY_S:  # the pipeline page's bar
                    _save_progress(run)
                    saved = time.monotonic()
                if progress is not None:
                    progress(run, len(plan.ready) - done)
    except (SftpError, SourceConfigError, OSError) as exc:
        run.errors.append({"path": "", "error": str(exc)})
        run.status = IngestRun.Status.FAILED
        _finish(run, source, error=str(exc))
    else:
        run.status = IngestRun.Status.PARTIAL if run.failed else IngestRun.Status.SUCCEEDED
        _finish(run, source, error="")
    finally:
        source_lock_release(source_id=source_id, owner=owner)
    return run


_PROGRESS_EVERY_S = 2.0


def _save_progress(run: IngestRun) -> None:
    """A running pull's counters, for the pipeline page (the run is saved whole at the end)."""
    IngestRun.objects.filter(id=run.id).update(
        listed=run.listed, new=run.new, waiting=run.waiting, ready=run.ready,
        skipped=run.skipped, downloaded=run.downloaded, failed=run.failed, bytes=run.bytes,
    )  # fmt: skip


def sources_due(*, now: datetime | None = None) -> list[int]:
    """Enabled sources whose cron schedule has come round since their last pull."""
    now = now or timezone.now()
    due = []
    for source in RecordingSource.objects.filter(enabled=True):
        minute, hour, day, month, weekday = source.schedule.split()
        schedule = crontab(
            minute=minute,
            hour=hour,
            day_of_month=day,
            month_of_year=month,
            day_of_week=weekday,
            nowfun=lambda: now,
        )
        last = source.last_pulled_at or (now - timedelta(days=400))
        if schedule.remaining_estimate(timezone.localtime(last)).total_seconds() <= 0:
            due.append(source.id)
    return due


def _fetch_all(
    source: RecordingSource,
    plan: PullPlan,
    factory: Callable[[], RemoteSession],
    session: RemoteSession,
) -> Iterator[Fetched]:
    """Download the ready files, up to `max_transfers` at once, each on its own connection."""
    jobs = [(remote, entry) for remote, entry in plan.ready]
    if source.max_transfers <= 1 or len(jobs) <= 1:
        for remote, entry in jobs:
            yield _fetch(session, plan, source, remote, entry)
        return
    local = threading.local()
    with ExitStack() as sessions, ThreadPoolExecutor(source.max_transfers) as pool:
        lock = threading.Lock()

        def own_session() -> RemoteSession:
            if not hasattr(local, "session"):
                with lock:
                    local.session = sessions.enter_context(factory())
            return local.session

        def job(remote: RemoteFile, entry: SourceFile) -> Fetched:
            try:
                worker_session = own_session()
            except SftpError as exc:
                return Fetched(remote=remote, entry=entry, error=str(exc))
            return _fetch(worker_session, plan, source, remote, entry)

        futures = [pool.submit(job, remote, entry) for remote, entry in jobs]
        for future in as_completed(futures):
            yield future.result()


def _fetch(
    session: RemoteSession,
    plan: PullPlan,
    source: RecordingSource,
    remote: RemoteFile,
    entry: SourceFile,
) -> Fetched:
    sidecars: list[tuple[str, DownloadedFile]] = []
    sidecar_remotes: list[RemoteFile] = []
    audio = None
    try:
        audio = session.download(remote, incoming_dir())
        after = session.stat(remote)
        if (after.size, after.mtime) != (remote.size, remote.mtime):
            audio.local_path.unlink(missing_ok=True)
            return Fetched(remote=remote, entry=entry, changed=after)
        for suffix in _sidecar_suffixes(source):
            sidecar = sidecar_for(plan, remote, suffix)
            if sidecar is not None:
                sidecars.append((suffix, session.download(sidecar, incoming_dir())))
                sidecar_remotes.append(sidecar)
    except SftpError as exc:
        partial = Fetched(remote=remote, entry=entry, audio=audio, sidecars=tuple(sidecars))
        partial.discard()
        return Fetched(remote=remote, entry=entry, error=str(exc))
    return Fetched(
        remote=remote,
        entry=entry,
        audio=audio,
        sidecars=tuple(sidecars),
        sidecar_remotes=tuple(sidecar_remotes),
        audio_check=audio_check(audio.local_path, size=audio.size),
    )


def _sidecar_suffixes(source: RecordingSource) -> tuple[str, ...]:
    # A .json next to the audio may be a transcript, call details, or both.
    if source.metadata_format == RecordingSource.MetadataFormat.CSV:
        return (".json", ".csv")
    return (".json",)


def _take(
    source: RecordingSource, session: RemoteSession, fetched: Fetched, run: IngestRun
) -> None:
    """Register one fetched file, update the ledger, then keep, move or delete the original."""
    entry, remote = fetched.entry, fetched.remote
    if fetched.changed is not None:
        SourceFile.objects.filter(id=entry.id).update(
            size=fetched.changed.size,
            mtime=fetched.changed.mtime,
            stable_since=timezone.now(),
            status=SourceFile.Status.WAITING,
        )
        run.waiting += 1
        return
    if fetched.error or fetched.audio is None:
        _failed(entry, run, remote, fetched.error or msg("下载失败"))
        return
    metadata, warnings, transcript = _call_facts(source, fetched)
    try:
        registration = recording_register(
            temp_path=fetched.audio.local_path,
            sha256=fetched.audio.sha256,
            size=fetched.audio.size,
            original_name=PurePosixPath(remote.path).name,
            source=source,
            remote_path=remote.path,
            remote_size=remote.size,
            remote_mtime=remote.mtime,
            sidecar_temp_path=transcript.local_path if transcript else None,
            metadata=metadata,
            warnings=tuple(warnings),
            checked=fetched.audio_check,
        )
    except TombstonedError as exc:
        SourceFile.objects.filter(id=entry.id).update(
            status=SourceFile.Status.DONE, sha256=fetched.audio.sha256, error=str(exc)
        )
        run.skipped += 1
        return
    except OSError as exc:
        fetched.discard()
        _failed(entry, run, remote, msg("保存失败：{error}", error=exc.strerror or exc))
        return
    finally:
        for _suffix, downloaded in fetched.sidecars:
            if downloaded is not transcript:
                downloaded.local_path.unlink(missing_ok=True)
    recording = registration.recording
    rejected = recording.status == recording.Status.REJECTED
    SourceFile.objects.filter(id=entry.id).update(
        status=SourceFile.Status.REJECTED if rejected else SourceFile.Status.DONE,
        sha256=recording.sha256,
        recording=recording,
        error=recording.error if rejected else "",
        attempts=F("attempts") + 1,
    )
    run.downloaded += 1
    run.bytes += fetched.audio.size + sum(d.size for _, d in fetched.sidecars)
    for taken in (remote, *fetched.sidecar_remotes):
        _after_download(source, session, taken, run)


def _call_facts(
    source: RecordingSource, fetched: Fetched
) -> tuple[CallMetadata, list[str], DownloadedFile | None]:
    """Call facts from the file name and the sidecars, the warnings, and the transcript sidecar."""
    metadata = from_filename(source.filename_pattern, PurePosixPath(fetched.remote.path).name)
    warnings: list[str] = []
    transcript = None
    for suffix, downloaded in fetched.sidecars:
        raw = downloaded.local_path.read_bytes()
        if suffix == ".json":
            # The transcript importer judges a transcript; a broken one fails transcription.
            transcript = downloaded
        wanted = source.metadata_format == suffix.lstrip(".")
        if not wanted:
            continue
        try:
            metadata = merge(
                metadata, from_sidecar(raw, kind=suffix.lstrip("."), mapping=source.metadata_fields)
            )
        except MetadataError as exc:
            warnings.append(
                msg(
                    "随附话单 {name} 无法读取：{error}",
                    name=f"{PurePosixPath(fetched.remote.path).stem}{suffix}",
                    error=exc,
                )
            )
    return metadata, warnings, transcript


def _after_download(
    source: RecordingSource, session: RemoteSession, remote: RemoteFile, run: IngestRun
) -> None:
    action = source.after_download
    if action == RecordingSource.AfterDownload.KEEP:
        return
    try:
        if action == RecordingSource.AfterDownload.MOVE:
            target = source.processed_dir.replace("{date}", f"{timezone.localdate():%Y-%m-%d}")
            session.rename(remote, target)
        else:
            session.remove(remote)
    except SftpError as exc:
        # The file stays where it was; the ledger knows it is taken, so nothing is lost or doubled.
        run.errors.append({"path": remote.path, "error": msg("下载后处理失败：{error}", error=exc)})


def _failed(entry: SourceFile, run: IngestRun, remote: RemoteFile, reason: str) -> None:
    SourceFile.objects.filter(id=entry.id).update(
        status=SourceFile.Status.FAILED, error=reason[:2000], attempts=F("attempts") + 1
    )
    run.failed += 1
    run.errors.append({"path": remote.path, "error": reason})
    logger.warning("pull of %s failed: %s", remote.path, reason)


def _finish(run: IngestRun, source: RecordingSource, *, error: str) -> None:
    now = timezone.now()
    run.finished_at = now
    run.save()
    RecordingSource.objects.filter(id=source.id).update(
        last_pulled_at=now,
        last_error=error,
        last_error_at=now if error else F("last_error_at"),
        updated_at=now,
    )


def source_file_retry(*, source_file_id: int) -> bool:
    """Let a rejected or failed file be taken again on the next pull."""
    return bool(
        SourceFile.objects.filter(
            id=source_file_id, status__in=[SourceFile.Status.REJECTED, SourceFile.Status.FAILED]
        ).update(status=SourceFile.Status.WAITING, error="", stable_since=timezone.now())
    )

"""Pulling recordings from a source into storage."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from django.conf import settings
from django.utils import timezone

from transcription.models import IngestRun, Recording, RecordingSource
from transcription.secrets import SecretReferenceError, resolve_secret
from transcription.services.recordings import recording_register
from transcription.sftp import RemoteFile, SftpError, SftpSession, SftpTarget
from transcription.storage import AUDIO_EXTENSIONS, incoming_dir

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".json"


class SourceConfigError(Exception):
    """The source is configured wrongly; the message is shown on the source."""


def source_target(source: RecordingSource) -> SftpTarget:
    """Connection details with secrets resolved from their references."""
    try:
        password = resolve_secret(source.password_ref)
        private_key = resolve_secret(source.private_key_ref)
    except SecretReferenceError as exc:
        raise SourceConfigError(str(exc)) from None
    if not password and not private_key:
        raise SourceConfigError("未配置密码引用或私钥引用")
    if not source.host_key_fingerprint.startswith("SHA256:"):
        raise SourceConfigError("主机公钥指纹必须是 SHA256:… 格式")
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


def source_pull(*, source_id: int) -> IngestRun:
    """List the source, download what is new and register it; a bad file never stops the rest."""
    source = RecordingSource.objects.get(id=source_id)
    run = IngestRun.objects.create(source=source)
    try:
        target = source_target(source)
        with SftpSession(target) as session:
            listing = session.list_files()
            run.listed = len(listing)
            by_path = {remote.path: remote for remote in listing}
            for remote in listing:
                if PurePosixPath(remote.path).suffix.lower() not in AUDIO_EXTENSIONS:
                    continue
                if _already_pulled(source, remote):
                    run.skipped += 1
                    continue
                run.new += 1
                _pull_one(session, source, remote, by_path, run)
    except (SftpError, SourceConfigError) as exc:
        run.errors.append({"path": "", "error": str(exc)})
        run.status = IngestRun.Status.FAILED
        _finish(run, source, error=str(exc))
        return run
    run.status = IngestRun.Status.PARTIAL if run.failed else IngestRun.Status.SUCCEEDED
    _finish(run, source, error="")
    return run


def _pull_one(
    session: SftpSession,
    source: RecordingSource,
    remote: RemoteFile,
    by_path: dict[str, RemoteFile],
    run: IngestRun,
) -> None:
    sidecar = by_path.get(str(PurePosixPath(remote.path).with_suffix(SIDECAR_SUFFIX)))
    audio = sidecar_file = None
    try:
        audio = session.download(remote, incoming_dir())
        if sidecar is not None:
            sidecar_file = session.download(sidecar, incoming_dir())
        registration = recording_register(
            temp_path=audio.local_path,
            sha256=audio.sha256,
            size=audio.size,
            original_name=PurePosixPath(remote.path).name,
            source=source,
            remote_path=remote.path,
            remote_size=remote.size,
            remote_mtime=remote.mtime,
            sidecar_temp_path=sidecar_file.local_path if sidecar_file else None,
        )
    except (SftpError, OSError) as exc:
        for leftover in (audio, sidecar_file):
            if leftover is not None:
                leftover.local_path.unlink(missing_ok=True)
        run.failed += 1
        run.errors.append({"path": remote.path, "error": str(exc)})
        logger.warning("pull of %s from %s failed: %s", remote.path, source, exc)
        return
    run.downloaded += 1
    run.bytes += audio.size + (sidecar_file.size if sidecar_file else 0)
    if not registration.created:
        logger.info("%s duplicates recording %s", remote.path, registration.recording.id)


def _already_pulled(source: RecordingSource, remote: RemoteFile) -> bool:
    return Recording.objects.filter(
        source=source, remote_path=remote.path, remote_size=remote.size, remote_mtime=remote.mtime
    ).exists()


def _finish(run: IngestRun, source: RecordingSource, *, error: str) -> None:
    now = timezone.now()
    run.finished_at = now
    run.save()
    source.last_pulled_at = now
    source.last_error = error
    source.last_error_at = now if error else source.last_error_at
    source.save(update_fields=["last_pulled_at", "last_error", "last_error_at", "updated_at"])

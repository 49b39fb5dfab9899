"""Uploads from the web page and the API: spool to disk, hash, and register like any other file."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from qa_platform.audit import audit_record
from qa_platform.i18n import localized
from transcription.asr.base import TranscriptionError
from transcription.asr.sidecar import parse_sidecar
from transcription.models import Recording
from transcription.services.registration import (
    Registration,
    TombstonedError,
    recording_register,
)
from transcription.storage import incoming_dir

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".json"
SIDECAR_MAX_BYTES = 5 * 1024 * 1024
MAX_NAME_LENGTH = 255
_CHUNK_BYTES = 1024 * 1024


class UploadError(Exception):
    """An upload that cannot be taken; the message is shown to the user."""


class UploadTooLarge(UploadError):
    def __init__(self, name: str, limit: int) -> None:
        message = _("文件 %(name)s 超过 %(limit)s 的上限")
        super().__init__(message % {"name": name, "limit": filesizeformat(limit)})
        self.name = name
        self.limit = limit


class SidecarInvalid(UploadError):
    pass


@dataclass(frozen=True)
class _Spooled:
    path: Path
    sha256: str
    size: int


def recording_upload(
    *,
    file: UploadedFile,
    user: AbstractBaseUser | AnonymousUser,
    sidecar: UploadedFile | None = None,
) -> Registration:
    """Register an uploaded recording (and its transcript sidecar) through `recording_register`.

    Raises UploadTooLarge over UPLOAD_MAX_BYTES (5 MB for a sidecar), SidecarInvalid for
    a sidecar that is not a readable transcript, and TombstonedError for content purged
    under the retention policy. No temporary file survives an error.
    """
    name = upload_name(file.name)
    spooled: list[Path] = []
    try:
        sidecar_file = None
        if sidecar is not None:
            # The small file first: a bad sidecar is refused before gigabytes of audio are copied.
            sidecar_file = _spool(sidecar, limit=SIDECAR_MAX_BYTES, into=spooled)
            _check_sidecar(upload_name(sidecar.name), sidecar_file.path)
        audio = _spool(file, limit=settings.UPLOAD_MAX_BYTES, into=spooled)
        registration = recording_register(
            temp_path=audio.path,
            sha256=audio.sha256,
            size=audio.size,
            original_name=name,
            sidecar_temp_path=sidecar_file.path if sidecar_file else None,
        )
    except BaseException:
        for path in spooled:
            path.unlink(missing_ok=True)
        raise
    audit_record(
        user=user,
        action="recording.upload",
        object_type="recording",
        object_id=registration.recording.id,
        details={"name": name, "sha256": audio.sha256, "created": registration.created},
    )
    return registration


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True)
class UploadResult:
    """What became of one file of a multi-file upload, for the result table."""

    name: str
    outcome: Outcome
    reason: str = ""
    recording_id: int | None = None

    @property
    def links_to_call(self) -> bool:
        return self.recording_id is not None and self.outcome in (
            Outcome.CREATED,
            Outcome.DUPLICATE,
        )


def recordings_upload(
    *,
    files: Sequence[UploadedFile],
    sidecars: Sequence[UploadedFile],
    user: AbstractBaseUser | AnonymousUser,
    refused: Sequence[UploadTooLarge] = (),
    refused_sidecars: Sequence[UploadTooLarge] = (),
) -> list[UploadResult]:
    """Upload several recordings from one form; one bad file never stops the rest.

    A sidecar goes with the recording of the same name ("a.json" with "a.mp3"). `refused`
    and `refused_sidecars` are files the request parser already dropped as too large.
    """
    by_stem = {_stem(upload_name(s.name)): s for s in sidecars}
    refused_by_stem = {_stem(e.name): e for e in refused_sidecars}
    results = [UploadResult(e.name, Outcome.REJECTED, str(e)) for e in refused]
    for file in files:
        name = upload_name(file.name)
        stem = _stem(name)
        if stem in refused_by_stem:
            # Registered without its transcript, the re-upload with one would be a duplicate.
            results.append(UploadResult(name, Outcome.REJECTED, str(refused_by_stem.pop(stem))))
            continue
        try:
            registration = recording_upload(file=file, user=user, sidecar=by_stem.pop(stem, None))
        except (UploadError, TombstonedError) as exc:
            results.append(UploadResult(name, Outcome.REJECTED, str(exc)))
            continue
        except OSError as exc:
            logger.exception("upload of %r failed", name)
            results.append(UploadResult(name, Outcome.FAILED, exc.strerror or str(exc)))
            continue
        results.append(_result(name, registration))
    unpaired = [upload_name(s.name) for s in by_stem.values()]
    unpaired += [e.name for e in refused_by_stem.values()]
    unused = _("没有同名的录音文件，未使用")
    results += [UploadResult(name, Outcome.REJECTED, unused) for name in unpaired]
    return results


def _result(name: str, registration: Registration) -> UploadResult:
    recording = registration.recording
    if not registration.created:
        return UploadResult(name, Outcome.DUPLICATE, recording_id=recording.id)
    if recording.status == Recording.Status.REJECTED:
        return UploadResult(name, Outcome.REJECTED, recording.error, recording.id)
    return UploadResult(name, Outcome.CREATED, recording_id=recording.id)


class UploadLimitHandler(FileUploadHandler):
    """Drops a file part as soon as it passes its field's size limit, before it reaches disk.

    Install it first in `request.upload_handlers`, before the body is read; after parsing,
    `refused` lists the dropped files by field name.
    """

    def __init__(self, request: HttpRequest, *, limits: Mapping[str, int]) -> None:
        super().__init__(request)
        self.limits = dict(limits)
        self.refused: dict[str, list[UploadTooLarge]] = {}
        self._limit = settings.UPLOAD_MAX_BYTES

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self._limit = self.limits.get(field_name, settings.UPLOAD_MAX_BYTES)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self._limit:
            error = UploadTooLarge(upload_name(self.file_name), self._limit)
            self.refused.setdefault(self.field_name, []).append(error)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler holds the data


def upload_name(raw: str | None) -> str:
    """The client's file name as display data: no path, no control characters, 255 at most."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    # Cf as well: a right-to-left override can disguise "evil.exe.mp3" in a table.
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    if len(name) <= MAX_NAME_LENGTH:
        return name
    suffix = PurePosixPath(name).suffix[:16]
    return name[: MAX_NAME_LENGTH - len(suffix)] + suffix


def _stem(name: str) -> str:
    return PurePosixPath(name).stem.casefold()


def _spool(upload: UploadedFile, *, limit: int, into: list[Path]) -> _Spooled:
    """Copy an upload into incoming/ while hashing it; the temp path is appended to `into`."""
    if upload.size is not None and upload.size > limit:
        raise UploadTooLarge(upload_name(upload.name), limit)
    fd, temp_name = tempfile.mkstemp(dir=incoming_dir(), prefix=".upload-")
    into.append(Path(temp_name))
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "wb") as out:
        for chunk in upload.chunks(_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(upload_name(upload.name), limit)
            out.write(chunk)
            digest.update(chunk)
        out.flush()
        os.fsync(out.fileno())
    return _Spooled(Path(temp_name), digest.hexdigest(), size)


def _check_sidecar(name: str, path: Path) -> None:
    if PurePosixPath(name).suffix.lower() != SIDECAR_SUFFIX:
        raise SidecarInvalid(_("随附转写文件 %(name)s 必须是 .json 文件") % {"name": name})
    try:
        parse_sidecar(path.read_bytes())
    except TranscriptionError as exc:
        raise SidecarInvalid(
            _("随附转写文件 %(name)s 无效：%(reason)s") % {"name": name, "reason": localized(exc)}
        ) from None

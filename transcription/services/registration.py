"""The one way a file becomes a Recording, whichever way it came in (SFTP, folder, upload)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from qa_i18n import msg
from transcription.asr.audio import AudioInfo, NotAudioError, probe_audio
from transcription.asr.base import CallMetadata
from transcription.models import Recording, RecordingSource, Tombstone
from transcription.services.calls import call_metadata_apply
from transcription.services.recordings import queue_transcription
from transcription.storage import absolute_path, audio_suffix, store_file

logger = logging.getLogger(__name__)

# What telephony platforms and recorders write: WAV (PCM, G.711 μ-law/A-law), MP3,
# M4A/AAC, FLAC, OGG/Opus.
ACCEPTED_CODECS = frozenset(
    {
        "pcm_s16le",
        "pcm_s16be",
        "pcm_s24le",
        "pcm_s32le",
        "pcm_u8",
        "pcm_f32le",
        "pcm_mulaw",
        "pcm_alaw",
        "mp3",
        "aac",
        "flac",
        "vorbis",
        "opus",
    }
)


class TombstonedError(Exception):
    """The content was purged under the retention policy and must not come back."""


# An audio file's facts and the reason to reject it ("" when acceptable).
AudioCheck = tuple[AudioInfo | None, str]


@dataclass(frozen=True)
class Registration:
    recording: Recording
    created: bool


def recording_register(
    *,
    temp_path: Path,
    sha256: str,
    size: int,
    original_name: str,
    source: RecordingSource | None = None,
    remote_path: str = "",
    remote_size: int | None = None,
    remote_mtime: int | None = None,
    sidecar_temp_path: Path | None = None,
    metadata: CallMetadata | None = None,
    warnings: tuple[str, ...] = (),
    checked: AudioCheck | None = None,
) -> Registration:
    """Register a fully written file; the one way in for every source.

    Content already stored (same sha256, any source) is not stored again;
    purged content raises TombstonedError. A file that is not acceptable audio
    is kept as a REJECTED recording with the reason, retryable. A new
    recording is queued for transcription once the transaction commits.
    `checked` is `audio_check`'s verdict on this very file, when the caller has it.
    """
    existing = Recording.objects.filter(sha256=sha256).first()
    if existing is not None:
        _discard(temp_path, sidecar_temp_path)
        return Registration(existing, created=False)
    if Tombstone.objects.filter(sha256=sha256).exists():
        _discard(temp_path, sidecar_temp_path)
        raise TombstonedError(msg("内容 {sha256} 已按保留策略删除，不再接收", sha256=sha256[:12]))

    info, reason = checked if checked is not None else audio_check(temp_path, size=size)
    now = timezone.now()
    audio_file = store_file(temp_path, sha256=sha256, suffix=audio_suffix(original_name), when=now)
    sidecar_file = ""
    if sidecar_temp_path is not None:
        sidecar_file = store_file(
            sidecar_temp_path, sha256=sha256, suffix=".transcript.json", when=now
        )
    status = Recording.Status.REJECTED if reason else Recording.Status.RECEIVED
    recording = Recording(
        source=source,
        remote_path=remote_path,
        remote_size=remote_size,
        remote_mtime=remote_mtime,
        original_name=original_name[:500],
        sha256=sha256,
        size_bytes=size,
        audio_file=audio_file,
        sidecar_file=sidecar_file,
        status=status,
        failed_stage=Recording.Stage.INGEST if reason else "",
        error=reason,
        warnings=list(warnings),
    )
    _set_audio_facts(recording, info)
    try:
        with transaction.atomic():
            if metadata is not None:
                call_metadata_apply(recording, metadata)
            recording.save()
            if status == Recording.Status.RECEIVED:
                transaction.on_commit(lambda: queue_transcription(recording.id))
    except IntegrityError:
        # Another worker registered the same content a moment ago; its files are the same bytes.
        return Registration(Recording.objects.get(sha256=sha256), created=False)
    logger.info("registered recording %s (%s) status=%s", recording.id, sha256[:12], status)
    return Registration(recording, created=True)


def recording_recheck(*, recording_id: int) -> Recording:
    """Check a rejected recording again under the current limits; queue it if it passes now."""
    recording = Recording.objects.get(id=recording_id)
    if recording.status != Recording.Status.REJECTED:
        return recording
    info, reason = audio_check(absolute_path(recording.audio_file), size=recording.size_bytes)
    _set_audio_facts(recording, info)
    recording.error = reason
    recording.status_changed_at = timezone.now()
    with transaction.atomic():
        if not reason:
            recording.status = Recording.Status.RECEIVED
            recording.failed_stage = ""
            transaction.on_commit(lambda: queue_transcription(recording.id))
        recording.save()
    return recording


def audio_check(path: Path, *, size: int) -> AudioCheck:
    """The audio's facts, and the reason to reject it ("" when it is acceptable)."""
    limit = settings.INGEST_MAX_BYTES
    if size > limit:
        return None, msg("文件大小 {size} 超过上限 {limit}", size=_mib(size), limit=_mib(limit))
    try:
        info = probe_audio(path)
    except NotAudioError as exc:
        return None, str(exc)
    if info.codec not in ACCEPTED_CODECS:
        return info, msg(
            "不支持的音频编码 {codec}（支持 WAV/PCM、G.711、MP3、AAC、FLAC、OGG/Opus）",
            codec=info.codec,
        )
    max_ms = settings.INGEST_MAX_DURATION_S * 1000
    if info.duration_ms is not None and info.duration_ms > max_ms:
        return info, msg(
            "时长 {minutes} 分钟超过上限 {limit} 分钟",
            minutes=info.duration_ms // 60000,
            limit=settings.INGEST_MAX_DURATION_S // 60,
        )
    if not info.duration_ms:
        return info, msg("音频时长为 0")
    return info, ""


def _set_audio_facts(recording: Recording, info: AudioInfo | None) -> None:
    if info is not None:
        recording.codec = info.codec[:50]
        recording.channels = info.channels
        recording.sample_rate = info.sample_rate
        recording.duration_ms = info.duration_ms


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def _discard(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)

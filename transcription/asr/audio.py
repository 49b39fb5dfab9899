"""Audio probing and decoding with ffmpeg, keeping the channels of a call apart.

Call recordings arrive as 8 kHz telephone audio (μ-law/A-law WAV, MP3, GSM, …),
usually stereo with the agent on one channel and the customer on the other. The
ASR models want 16 kHz mono float32, so every channel is resampled on its own and
never mixed down. ffmpeg runs as a subprocess (no Python codec dependencies); only
the local ``file`` protocol is allowed, so a crafted playlist cannot make ffmpeg
fetch URLs.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_i18n import msg
from transcription.asr.base import TranscriptionError

TARGET_SAMPLE_RATE = 16000
# Long calls decode in seconds; a minute-long hang means a broken file or disk.
DEFAULT_TIMEOUT_S = 900.0
# ffprobe has no -nostdin (it never reads stdin; _run also gives it /dev/null).
_PROBE_ARGS = ("-hide_banner", "-loglevel", "error")
_FFMPEG_ARGS = ("-nostdin", *_PROBE_ARGS)
# Inputs may only be opened through the local file protocol (no http/concat tricks).
_INPUT_ARGS = ("-protocol_whitelist", "file")


class NotAudioError(TranscriptionError):
    """The file is empty, unreadable or has no audio stream; ``reason`` is user-facing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe says about the first audio stream of a file."""

    codec: str
    channels: int
    sample_rate: int
    # None when the container does not record a duration (e.g. some raw streams).
    duration_ms: int | None
    format_name: str


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded samples: one float32 mono array per source channel, all at ``sample_rate``."""

    sample_rate: int
    channels: list[np.ndarray]
    duration_ms: int


def _tool(name: str) -> str:
    """Return the absolute path of an ffmpeg tool or raise a user-facing error."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
    if not found:
        raise TranscriptionError(msg("服务器未安装 {tool}，无法处理音频", tool=name))
    return found


def _input_url(path: Path) -> str:
    """Force the file protocol so names like ``http:x`` or ``-x`` are never reinterpreted."""
    return "file:" + str(Path(path).resolve())


def _stderr_reason(stderr: bytes, path: Path) -> str:
    """Condense ffmpeg's stderr to its last meaningful line, without the long path prefix."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return msg("未知错误")
    last = lines[-1]
    prefix = _input_url(path) + ":"
    return last[len(prefix) :].strip() if last.startswith(prefix) else last


def _run(args: list[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run an ffmpeg tool with captured output; timeouts become a TranscriptionError."""
    try:
        # Arguments are a fixed list with an absolute tool path; no shell involved.
        return subprocess.run(  # noqa: S603
            args, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise TranscriptionError(
            msg("音频处理超时（超过 {seconds} 秒）", seconds=int(timeout))
        ) from exc


def _parse_duration_ms(*candidates: Any) -> int | None:
    """First parseable, positive ffprobe duration (seconds as a string) in milliseconds."""
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds > 0:
            return round(seconds * 1000)
    return None


def probe_audio(path: Path, *, timeout: float = 60.0) -> AudioInfo:
    """Describe the first audio stream of ``path`` with ffprobe.

    Raises ``NotAudioError`` (a ``TranscriptionError``) with a Chinese reason when
    the file is missing, empty, not a media file, or has no audio stream.
    """
    path = Path(path)
    if not path.is_file():
        raise NotAudioError(msg("文件不存在：{name}", name=path.name))
    if path.stat().st_size == 0:
        raise NotAudioError(msg("文件为空，不是有效的音频"))
    proc = _run(
        [
            _tool("ffprobe"),
            *_PROBE_ARGS,
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
            *_INPUT_ARGS,
            "-i",
            _input_url(path),
        ],
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise NotAudioError(
            msg("无法识别的音频文件：{reason}", reason=_stderr_reason(proc.stderr, path))
        )
    try:
        data = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise NotAudioError(msg("无法识别的音频文件：ffprobe 输出无法解析")) from exc
    streams = [s for s in data.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise NotAudioError(msg("文件不包含音频流"))
    stream = streams[0]
    fmt = data.get("format", {})
    channels = int(stream.get("channels") or 0)
    sample_rate = int(stream.get("sample_rate") or 0)
    if channels <= 0 or sample_rate <= 0:
        raise NotAudioError(msg("音频流缺少声道或采样率信息"))
    return AudioInfo(
        codec=str(stream.get("codec_name", "")),
        channels=channels,
        sample_rate=sample_rate,
        duration_ms=_parse_duration_ms(stream.get("duration"), fmt.get("duration")),
        format_name=str(fmt.get("format_name", "")),
    )


@functools.lru_cache(maxsize=1)
def has_soxr() -> bool:
    """Whether this ffmpeg build was configured with libsoxr (better telephone upsampling)."""
    try:
        proc = _run([_tool("ffmpeg"), "-hide_banner", "-version"], timeout=30.0)
    except TranscriptionError:
        return False
    return b"--enable-libsoxr" in proc.stdout


def decode_channels(
    path: Path,
    *,
    sample_rate: int = TARGET_SAMPLE_RATE,
    timeout: float = DEFAULT_TIMEOUT_S,
    channel_count: int | None = None,
) -> DecodedAudio:
    """Decode the first audio stream of ``path`` to float32 at ``sample_rate``, per channel.

    Channels are decoded interleaved (``-ac`` = the source channel count, so no
    down-mix) and split with numpy. Raises ``TranscriptionError`` ("无法解码音频：…")
    for unreadable or non-audio input. ``channel_count``, when registration already
    probed the file, spares a second ffprobe run.
    """
    path = Path(path)
    if channel_count is None:
        try:
            channel_count = probe_audio(path).channels
        except NotAudioError as exc:
            raise TranscriptionError(msg("无法解码音频：{reason}", reason=exc.reason)) from exc
    n = channel_count
    args = [_tool("ffmpeg"), *_FFMPEG_ARGS, *_INPUT_ARGS, "-i", _input_url(path)]
    args += ["-map", "0:a:0", "-vn", "-ac", str(n), "-ar", str(sample_rate)]
    if has_soxr():
        args += ["-af", "aresample=resampler=soxr"]
    args += ["-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    proc = _run(args, timeout=timeout)
    if proc.returncode != 0:
        raise TranscriptionError(
            msg("无法解码音频：{reason}", reason=_stderr_reason(proc.stderr, path))
        )
    # count= instead of slicing: slicing the bytes would copy an hour of audio once more.
    frames = len(proc.stdout) // (4 * n)
    interleaved = np.frombuffer(proc.stdout, dtype="<f4", count=frames * n).reshape(-1, n)
    if interleaved.shape[0] == 0:
        raise TranscriptionError(msg("无法解码音频：音频时长为零"))
    # Writable, contiguous per-channel copies (the ffmpeg buffer itself is read-only).
    channels = [np.array(interleaved[:, i], dtype=np.float32, copy=True) for i in range(n)]
    duration_ms = round(interleaved.shape[0] * 1000 / sample_rate)
    return DecodedAudio(sample_rate=sample_rate, channels=channels, duration_ms=duration_ms)


# Codecs every browser's <audio> plays (by ffprobe codec name). Other telephony codecs are
# transcoded for listening: IMA/MS ADPCM and GSM WAV play in no browser, and G.711
# μ-law/A-law WAV plays in Chromium-based browsers but not in every browser.
BROWSER_CODECS = frozenset({
    "mp3", "aac", "flac", "opus", "vorbis",
    "pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le",
})  # fmt: skip


def transcode_pcm_wav(path: Path, dest: Path, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Write the first audio stream of ``path`` to ``dest`` as 16-bit PCM WAV, keeping its
    channels and sample rate (a stereo call stays agent left / customer right).

    Raises ``TranscriptionError`` ("无法解码音频：…"); ``dest`` is not left behind on failure.
    """
    args = [_tool("ffmpeg"), *_FFMPEG_ARGS, *_INPUT_ARGS, "-i", _input_url(Path(path))]
    args += ["-map", "0:a:0", "-vn", "-map_metadata", "-1", "-c:a", "pcm_s16le", "-f", "wav"]
    args += ["-y", str(dest)]
    proc = _run(args, timeout=timeout)
    if proc.returncode != 0:
        Path(dest).unlink(missing_ok=True)
        raise TranscriptionError(
            msg("无法解码音频：{reason}", reason=_stderr_reason(proc.stderr, Path(path)))
        )

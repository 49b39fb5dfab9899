"""Serving a call's recording to the browser: access-checked, audited, with HTTP Range.

A recording whose codec not every browser plays (ADPCM or GSM WAV from older call recorders,
G.711 μ-law/A-law WAV, AMR…) is served as 16-bit PCM WAV made once with ffmpeg and kept
under QA_DATA_DIR/playback/ (named by the recording's sha256, so it is shared by every
viewer and removed with the recording's other derived files). The stored original is never
changed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from transcription.asr.audio import BROWSER_CODECS, transcode_pcm_wav

CONTENT_TYPES = {
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".m4a": "audio/mp4", ".aac": "audio/aac",
    ".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/ogg",
}  # fmt: skip
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


def playable_path(path: Path, *, codec: str, sha256: str) -> Path:
    """`path` itself when browsers play its codec (or it is unknown), else its PCM WAV copy,
    made on first use. Raises TranscriptionError when ffmpeg cannot decode it."""
    if not codec or codec in BROWSER_CODECS:
        return path
    cache = Path(settings.QA_DATA_DIR) / "playback"
    target = cache / f"{sha256}.wav"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # Concurrent first plays each write their own temporary file; the rename is atomic.
    fd, name = tempfile.mkstemp(prefix=".play-", suffix=".wav", dir=cache)
    os.close(fd)
    try:
        transcode_pcm_wav(path, Path(name))
        os.replace(name, target)
    finally:
        Path(name).unlink(missing_ok=True)
    return target


def _chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            data = handle.read(min(_CHUNK, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single `bytes=` range; None when absent or unparseable
    (then the whole file is sent); ValueError when it cannot be satisfied."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0:
            raise ValueError("empty suffix range")
        return max(0, size - count), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, end


def audio_response(request: HttpRequest, path: Path) -> HttpResponse | StreamingHttpResponse:
    size = path.stat().st_size
    content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    try:
        wanted = byte_range(request.headers.get("Range", ""), size)
    except ValueError:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    start, end = wanted if wanted is not None else (0, size - 1)
    length = end - start + 1 if size else 0
    response = StreamingHttpResponse(_chunks(path, start, length), content_type=content_type,
                                     status=206 if wanted is not None else 200)  # fmt: skip
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if wanted is not None:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response

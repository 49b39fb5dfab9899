"""Serving a call's recording to the browser: access-checked, audited, with HTTP Range."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

CONTENT_TYPES = {
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".m4a": "audio/mp4", ".aac": "audio/aac",
    ".flac": "audio/flac", ".ogg": "audio/ogg", ".opus": "audio/ogg",
}  # fmt: skip
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


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

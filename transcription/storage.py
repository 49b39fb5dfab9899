"""Where recordings live on disk: under QA_DATA_DIR, partitioned by date, named by hash."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils import timezone

AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus"})


def incoming_dir() -> Path:
    """Temporary downloads land here: on the same filesystem as storage, so rename is atomic."""
    path = Path(settings.QA_DATA_DIR) / "incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def audio_suffix(remote_name: str) -> str:
    """A safe suffix for a stored file; the remote name itself is never used on disk."""
    suffix = PurePosixPath(remote_name).suffix.lower()
    return suffix if suffix in AUDIO_EXTENSIONS else ".bin"


def store_file(temp_path: Path, *, sha256: str, suffix: str, when: datetime | None = None) -> str:
    """Move a fully written temporary file into storage; returns its path under QA_DATA_DIR."""
    day = timezone.localtime(when or timezone.now())
    relative = Path("audio") / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{sha256}{suffix}"
    target = Path(settings.QA_DATA_DIR) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp_path, target)
    _fsync_dir(target.parent)
    return relative.as_posix()


def absolute_path(relative: str) -> Path:
    """The absolute path of a stored file, refusing anything that escapes QA_DATA_DIR."""
    root = Path(settings.QA_DATA_DIR).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"stored path escapes the data directory: {relative!r}")
    return path


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Deciding what a pull takes: the ledger of files seen on a source, one query per run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from django.conf import settings

from qa_i18n import msg
from transcription.models import RecordingSource, SourceFile
from transcription.sftp import RemoteFile

SIDECAR_SUFFIXES = (".json", ".csv")


@dataclass
class PullPlan:
    ready: list[tuple[RemoteFile, SourceFile]] = field(default_factory=list)
    # Sidecars by the stem (display path without suffix) and suffix of their audio file.
    sidecars: dict[tuple[str, str], RemoteFile] = field(default_factory=dict)
    listed: int = 0
    new: int = 0
    waiting: int = 0
    skipped: int = 0
    too_large: int = 0


def path_key(remote: RemoteFile) -> str:
    return hashlib.sha256(remote.raw_path or remote.path.encode("utf-8")).hexdigest()


def plan_pull(
    source: RecordingSource, listing: list[RemoteFile], *, now: datetime, record: bool = True
) -> PullPlan:
    """Sort the listing into ready, waiting and already taken; record new sightings.

    A file is ready once its size and mtime have been seen unchanged for the
    source's `stable_seconds`: a recorder may still be writing it. With
    `record=False` (a dry run) nothing is written.
    """
    plan = PullPlan(listed=len(listing))
    for remote in listing:
        suffix = PurePosixPath(remote.path).suffix.lower()
        if suffix in SIDECAR_SUFFIXES:
            plan.sidecars[(str(PurePosixPath(remote.path).with_suffix("")), suffix)] = remote
    processed = _processed_prefix(source)
    candidates = [
        remote
        for remote in listing
        if source.matches(remote.path) and not (processed and remote.path.startswith(processed))
    ]
    ledger = {entry.path_key: entry for entry in SourceFile.objects.filter(source=source)}
    created: list[SourceFile] = []
    changed: list[SourceFile] = []
    for remote in candidates:
        key = path_key(remote)
        entry = ledger.get(key)
        if entry is None:
            entry = SourceFile(
                source=source,
                path=remote.path,
                path_key=key,
                raw_path=remote.raw_path or remote.path.encode("utf-8"),
                size=remote.size,
                mtime=remote.mtime,
                stable_since=now,
                first_seen_at=now,
            )
            created.append(entry)
            plan.new += 1
        elif (entry.size, entry.mtime) != (remote.size, remote.mtime):
            # Rewritten or still growing: its clock starts again, and it is new content.
            entry.size, entry.mtime, entry.stable_since = remote.size, remote.mtime, now
            entry.status, entry.error = SourceFile.Status.WAITING, ""
            changed.append(entry)
            plan.new += 1
        elif entry.status in (SourceFile.Status.DONE, SourceFile.Status.REJECTED):
            plan.skipped += 1
            continue
        if remote.size > settings.INGEST_MAX_BYTES:
            if entry.status != SourceFile.Status.REJECTED:
                entry.status = SourceFile.Status.REJECTED
                entry.error = msg(
                    "文件大小 {size} MiB 超过上限 {limit} MiB，未下载",
                    size=f"{remote.size / 1024**2:.1f}",
                    limit=f"{settings.INGEST_MAX_BYTES / 1024**2:.1f}",
                )
                if entry not in created:
                    changed.append(entry)
            plan.too_large += 1
        elif entry.is_stable(stable_seconds=source.stable_seconds, now=now):
            plan.ready.append((remote, entry))
        else:
            plan.waiting += 1
    if record:
        SourceFile.objects.bulk_create(created, batch_size=500)
        SourceFile.objects.bulk_update(
            changed, ["size", "mtime", "stable_since", "status", "error"], batch_size=500
        )
    return plan


def _processed_prefix(source: RecordingSource) -> str:
    """Files we moved aside after taking them must not be listed as new ones."""
    if source.after_download != RecordingSource.AfterDownload.MOVE:
        return ""
    fixed = source.processed_dir.split("{date}", 1)[0].strip("/")
    return f"{fixed}/" if fixed else ""


def sidecar_for(plan: PullPlan, remote: RemoteFile, suffix: str) -> RemoteFile | None:
    return plan.sidecars.get((str(PurePosixPath(remote.path).with_suffix("")), suffix))

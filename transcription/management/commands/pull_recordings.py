"""Pull recordings from the enabled sources now, with a progress bar and a summary."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from transcription.models import IngestRun, RecordingSource
from transcription.services.sources import (
    SourceConfigError,
    source_pull,
    source_pull_preview,
)
from transcription.sftp import SftpError


class Command(BaseCommand):
    help = "从录音来源拉取新录音（默认所有已启用的来源）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", help="只拉取这个来源（名称）")
        parser.add_argument("--dry-run", action="store_true",
                            help="只列出将要拉取的文件，不下载、不记录")

    def handle(self, *args: Any, **options: Any) -> None:
        sources = RecordingSource.objects.filter(enabled=True)
        if options["source"]:
            sources = RecordingSource.objects.filter(name=options["source"])
            if not sources.exists():
                raise CommandError(f"没有名为 {options['source']!r} 的来源")
        if not sources.exists():
            self.stdout.write("没有已启用的录音来源。")
            return
        failed = False
        for source in sources:
            if options["dry_run"]:
                failed |= not self._preview(source)
            else:
                failed |= not self._pull(source)
        if failed:
            raise CommandError("有来源拉取失败，详见上方原因。")

    def _preview(self, source: RecordingSource) -> bool:
        try:
            plan = source_pull_preview(source_id=source.id)
        except (SftpError, SourceConfigError) as exc:
            self.stderr.write(self.style.ERROR(f"{source.name}：{exc}"))
            return False
        self.stdout.write(f"{source.name}：列出 {plan.listed}，将拉取 {len(plan.ready)}，"
                          f"等待稳定 {plan.waiting}，已有 {plan.skipped}，"
                          f"超过大小上限 {plan.too_large}")
        for remote, _entry in plan.ready:
            self.stdout.write(f"  {remote.path}  {remote.size} 字节")
        return True

    def _pull(self, source: RecordingSource) -> bool:
        bar = _ProgressBar(self.stderr, label=source.name)
        run = source_pull(source_id=source.id, progress=bar.update)
        bar.close()
        if run is None:
            self.stdout.write(self.style.WARNING(f"{source.name}：另一个拉取任务正在进行，已跳过"))
            return True
        style = self.style.SUCCESS if run.status == IngestRun.Status.SUCCEEDED else (
            self.style.WARNING if run.status == IngestRun.Status.PARTIAL else self.style.ERROR)
        self.stdout.write(style(
            f"{source.name}：{run.get_status_display()}。列出 {run.listed}，新文件 {run.new}，"
            f"等待稳定 {run.waiting}，下载 {run.downloaded}，跳过 {run.skipped}，"
            f"失败 {run.failed}，{run.bytes / 1024**2:.1f} MiB，用时 {run.duration_s or 0:.1f} 秒"
        ))
        for error in run.errors:
            self.stdout.write(f"  {error['path'] or source.name}：{error['error']}")
        return run.status != IngestRun.Status.FAILED


class _ProgressBar:
    """A one-line bar on a terminal; silent when output is not a terminal."""

    def __init__(self, stream: Any, *, label: str) -> None:
        self._stream, self._label = stream, label
        self._tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self._drawn = False

    def update(self, run: IngestRun, remaining: int) -> None:
        if not self._tty:
            return
        done = run.downloaded + run.failed
        total = done + remaining
        width = 30
        filled = width * done // total if total else width
        self._stream.write(f"\r{self._label} [{'#' * filled}{'.' * (width - filled)}] "
                           f"{done}/{total} {run.bytes / 1024**2:.1f} MiB", ending="")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("")

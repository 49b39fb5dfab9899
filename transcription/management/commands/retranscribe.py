"""Transcribe the calls of a date range again, e.g. after the hotword lists changed."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from transcription.models import RecordingSource
from transcription.services.hotwords import recordings_retranscribe


class Command(BaseCommand):
    help = "按日期重新转写通话（例如热词表修改之后），再重新分析。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, type=date.fromisoformat,
                            help="起始日期 YYYY-MM-DD（按通话开始时间）")
        parser.add_argument("--until", required=True, type=date.fromisoformat,
                            help="结束日期 YYYY-MM-DD（含当天）")
        parser.add_argument("--source", help="只重转这个来源（名称）")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["until"] < options["since"]:
            raise CommandError("结束日期早于起始日期")
        source_id = None
        if options["source"]:
            source = RecordingSource.objects.filter(name=options["source"]).first()
            if source is None:
                raise CommandError(f"没有名为 {options['source']!r} 的来源")
            source_id = source.id
        queued = recordings_retranscribe(since=options["since"], until=options["until"],
                                         source_id=source_id)
        self.stdout.write(self.style.SUCCESS(f"已重新排队转写 {queued} 通通话"))

"""Load the configured ASR models offline and transcribe a bundled 5-second clip."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from transcription.asr.base import TranscriptionError, TranscriptionRequest

CLIP = Path(__file__).resolve().parents[2] / "asr" / "data" / "check_clip.wav"
CLIP_SECONDS = 5.0


class Command(BaseCommand):
    help = "离线加载已配置的语音识别模型，转写内置的 5 秒录音，输出设备、加载耗时和实时率。"
    # This command is the check: it names a missing model path in one line itself.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        from transcription.asr import registry

        if not settings.ASR_MODEL:
            raise CommandError("未设置 ASR_MODEL：请指向本地的语音识别模型目录（不会在线下载）")
        for name in ("ASR_MODEL", "ASR_VAD_MODEL", "ASR_PUNC_MODEL", "ASR_SPK_MODEL"):
            value = getattr(settings, name)
            if (value or name in ("ASR_MODEL", "ASR_VAD_MODEL")) and not Path(value).is_dir():
                raise CommandError(f"{name} 指向的模型目录不存在：{value or '（未设置）'}")
        started = time.perf_counter()
        try:
            engine = registry.get_engine("funasr")
        except TranscriptionError as exc:
            raise CommandError(f"模型加载失败：{exc}") from None
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        try:
            result = engine.transcribe(TranscriptionRequest(audio_path=CLIP))
        except TranscriptionError as exc:
            raise CommandError(f"转写测试录音失败：{exc}") from None
        run_s = time.perf_counter() - started
        self.stdout.write(f"设备：{getattr(engine, 'device', '?')}")
        self.stdout.write(f"模型：{result.model_version}")
        self.stdout.write(f"加载耗时：{load_s:.2f} 秒")
        self.stdout.write(f"转写 {CLIP_SECONDS:.0f} 秒录音耗时：{run_s:.2f} 秒，"
                          f"实时率 RTF {run_s / CLIP_SECONDS:.3f}")
        for segment in result.segments:
            self.stdout.write(f"  [{segment.start_ms / 1000:5.1f}s {segment.role}] {segment.text}")
        self.stdout.write(self.style.SUCCESS("语音识别可用"))

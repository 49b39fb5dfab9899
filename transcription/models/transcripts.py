from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from qa_platform.models import TimeStampedModel
from transcription.models.recordings import Recording


class Transcript(TimeStampedModel):
    class Engine(models.TextChoices):
        SIDECAR = "sidecar", _("随附转写文件")
        FUNASR = "funasr", _("FunASR 语音识别")

    recording = models.OneToOneField(
        Recording, verbose_name=_("录音"), related_name="transcript", on_delete=models.CASCADE
    )
    engine = models.CharField(_("转写方式"), max_length=20, choices=Engine.choices)
    model_version = models.CharField(_("模型版本"), max_length=200, blank=True)
    language = models.CharField(_("语言"), max_length=10, default="zh")
    timings = models.JSONField(_("耗时"), default=dict, blank=True)
    hotword_count = models.PositiveIntegerField(_("使用热词数"), default=0)
    # The engine could not use these (e.g. plain Paraformer, or a sidecar): said, not hidden.
    ignored_hotwords = models.JSONField(_("未使用的热词"), default=list, blank=True)
    # Spans masked per PII type when the transcript was stored, e.g. {"phone": 1}.
    pii_masked = models.JSONField(_("已脱敏的个人信息"), default=dict, blank=True)

    class Meta:
        verbose_name = _("转写")
        verbose_name_plural = _("转写")

    def __str__(self) -> str:
        return f"{self.recording} ({self.get_engine_display()})"


class Segment(models.Model):
    class Role(models.TextChoices):
        AGENT = "agent", _("坐席")
        CUSTOMER = "customer", _("客户")
        UNKNOWN = "unknown", _("未知")

    transcript = models.ForeignKey(
        Transcript, verbose_name=_("转写"), related_name="segments", on_delete=models.CASCADE
    )
    index = models.PositiveIntegerField(_("序号"))
    role = models.CharField(_("角色"), max_length=10, choices=Role.choices)
    start_ms = models.PositiveIntegerField(_("开始（毫秒）"))
    end_ms = models.PositiveIntegerField(_("结束（毫秒）"))
    raw_text = models.TextField(_("识别原文"), blank=True)
    text = models.TextField(_("文本"))
    emotion = models.CharField(_("情绪标签"), max_length=20, blank=True)
    # [[start_ms, end_ms], ...] per character of raw_text, when the model gives them.
    char_timestamps = models.JSONField(_("字级时间戳"), default=list, blank=True)

    class Meta:
        verbose_name = _("转写片段")
        verbose_name_plural = _("转写片段")
        ordering = ["transcript", "index"]
        constraints = [
            models.UniqueConstraint(fields=["transcript", "index"], name="segment_unique_index"),
        ]

    def __str__(self) -> str:
        return f"[{self.start_ms}–{self.end_ms}] {self.role}: {self.text[:30]}"

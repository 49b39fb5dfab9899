from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qa_platform.models import Agent, TimeStampedModel


class Recording(TimeStampedModel):
    class Status(models.TextChoices):
        RECEIVED = "received", _("已接收")
        TRANSCRIBING = "transcribing", _("转写中")
        TRANSCRIBED = "transcribed", _("已转写")
        ANALYZING = "analyzing", _("分析中")
        ANALYZED = "analyzed", _("已分析")
        FAILED = "failed", _("失败")
        REJECTED = "rejected", _("已拒收")

    class Stage(models.TextChoices):
        INGEST = "ingest", _("接收")
        TRANSCRIBE = "transcribe", _("转写")
        ANALYZE = "analyze", _("分析")

    source = models.ForeignKey(
        "transcription.RecordingSource", verbose_name=_("来源"), related_name="recordings",
        on_delete=models.PROTECT, null=True, blank=True,
    )
    # The remote name is untrusted data: kept for display, never used as a local path.
    remote_path = models.TextField(_("远程路径"), blank=True)
    remote_size = models.BigIntegerField(_("远程大小"), null=True, blank=True)
    remote_mtime = models.BigIntegerField(_("远程修改时间"), null=True, blank=True)
    original_name = models.CharField(_("原文件名"), max_length=500, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    size_bytes = models.BigIntegerField(_("大小（字节）"))
    # Relative to QA_DATA_DIR; named by hash.
    audio_file = models.CharField(_("音频文件"), max_length=500)
    sidecar_file = models.CharField(_("转写文件"), max_length=500, blank=True)

    codec = models.CharField(_("编码"), max_length=50, blank=True)
    channels = models.PositiveSmallIntegerField(_("声道数"), null=True, blank=True)
    sample_rate = models.PositiveIntegerField(_("采样率"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("时长（毫秒）"), null=True, blank=True)

    call_id = models.CharField(_("通话编号"), max_length=100, blank=True, db_index=True)
    agent = models.ForeignKey(
        Agent, verbose_name=_("坐席"), related_name="recordings",
        on_delete=models.SET_NULL, null=True, blank=True,
    )
    started_at = models.DateTimeField(_("通话开始"), null=True, blank=True)
    customer_phone = models.CharField(_("客户号码"), max_length=50, blank=True)
    direction = models.CharField(_("呼叫方向"), max_length=20, blank=True)
    queue = models.CharField(_("队列"), max_length=100, blank=True)
    # Problems that did not stop the call, e.g. a malformed call-detail sidecar.
    warnings = models.JSONField(_("提示"), default=list, blank=True)

    status = models.CharField(
        _("状态"), max_length=20, choices=Status.choices, default=Status.RECEIVED
    )
    status_changed_at = models.DateTimeField(_("状态更新时间"), default=timezone.now)
    failed_stage = models.CharField(_("失败环节"), max_length=20, choices=Stage.choices, blank=True)
    error = models.TextField(_("失败原因"), blank=True)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)

    class Meta:
        verbose_name = _("录音")
        verbose_name_plural = _("录音")
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["source", "remote_path"], name="recording_source_path"),
            models.Index(fields=["status", "status_changed_at"], name="recording_status"),
            models.Index(fields=["started_at"], name="recording_started"),
        ]

    def __str__(self) -> str:
        return self.call_id or self.original_name or self.sha256[:12]




class Tombstone(models.Model):
    """What remains of a recording whose audio was purged: it is never taken in again."""

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    source = models.ForeignKey("transcription.RecordingSource", verbose_name=_("来源"),
                               on_delete=models.SET_NULL, null=True, blank=True)
    remote_path = models.TextField(_("远程路径"), blank=True)
    reason = models.CharField(_("原因"), max_length=200)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("已删除录音")
        verbose_name_plural = _("已删除录音")

    def __str__(self) -> str:
        return self.sha256[:12]

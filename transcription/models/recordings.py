from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qa_platform.models import Agent, TimeStampedModel


class RecordingSource(TimeStampedModel):
    class Kind(models.TextChoices):
        SFTP = "sftp", _("SFTP 服务器")

    class AgentChannel(models.TextChoices):
        LEFT = "left", _("左声道")
        RIGHT = "right", _("右声道")

    name = models.CharField(_("名称"), max_length=100, unique=True)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.SFTP)
    host = models.CharField(_("主机"), max_length=255)
    port = models.PositiveIntegerField(_("端口"), default=22)
    username = models.CharField(_("用户名"), max_length=100)
    # References, never the secret itself: "env:VAR_NAME" or "file:/run/secrets/name".
    password_ref = models.CharField(
        _("密码引用"), max_length=255, blank=True,
        help_text=_("env:变量名 或 file:/路径；数据库中不保存密码本身"),
    )
    private_key_ref = models.CharField(
        _("私钥引用"), max_length=255, blank=True,
        help_text=_("env:变量名 或 file:/路径，指向 OpenSSH 私钥"),
    )
    host_key_fingerprint = models.CharField(
        _("主机公钥指纹"), max_length=100,
        help_text=_("SHA256:… 格式；指纹不符时拒绝连接"),
    )
    remote_dir = models.CharField(_("远程目录"), max_length=500, default=".")
    agent_channel = models.CharField(
        _("坐席声道"), max_length=10, choices=AgentChannel.choices, default=AgentChannel.LEFT
    )
    enabled = models.BooleanField(_("启用"), default=True)
    last_pulled_at = models.DateTimeField(_("上次拉取"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    last_error_at = models.DateTimeField(_("最近错误时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("录音来源")
        verbose_name_plural = _("录音来源")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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
        RecordingSource, verbose_name=_("来源"), related_name="recordings",
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


class IngestRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("成功")
        PARTIAL = "partial", _("部分失败")
        FAILED = "failed", _("失败")

    source = models.ForeignKey(
        RecordingSource, verbose_name=_("来源"), related_name="runs", on_delete=models.CASCADE
    )
    status = models.CharField(
        _("状态"), max_length=20, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    listed = models.PositiveIntegerField(_("列出"), default=0)
    new = models.PositiveIntegerField(_("新文件"), default=0)
    downloaded = models.PositiveIntegerField(_("已下载"), default=0)
    skipped = models.PositiveIntegerField(_("已跳过"), default=0)
    failed = models.PositiveIntegerField(_("失败"), default=0)
    bytes = models.BigIntegerField(_("字节数"), default=0)
    errors = models.JSONField(_("错误"), default=list, blank=True)

    class Meta:
        verbose_name = _("拉取记录")
        verbose_name_plural = _("拉取记录")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} @ {self.started_at:%Y-%m-%d %H:%M}"


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

    class Meta:
        verbose_name = _("转写片段")
        verbose_name_plural = _("转写片段")
        ordering = ["transcript", "index"]
        constraints = [
            models.UniqueConstraint(fields=["transcript", "index"], name="segment_unique_index"),
        ]

    def __str__(self) -> str:
        return f"[{self.start_ms}–{self.end_ms}] {self.role}: {self.text[:30]}"

"""Where recordings come from: sources, the ledger of files seen on them, and pull runs."""

from __future__ import annotations

import fnmatch
import re
from datetime import timedelta
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qa_platform.models import TimeStampedModel

CALL_FIELDS = ("call_id", "agent_id", "agent_name", "team", "started_at", "customer_phone",
               "direction", "queue")
# Named groups a filename pattern may use.
PATTERN_GROUPS = frozenset({"call_id", "agent_id", "started_at", "customer_phone", "direction",
                            "queue"})
DEFAULT_GLOBS = "*.wav *.mp3 *.m4a *.aac *.flac *.ogg *.opus"
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


class RecordingSource(TimeStampedModel):
    class Kind(models.TextChoices):
        SFTP = "sftp", _("SFTP 服务器")
        LOCAL = "local", _("本地目录")

    class AgentChannel(models.TextChoices):
        LEFT = "left", _("左声道")
        RIGHT = "right", _("右声道")

    class MetadataFormat(models.TextChoices):
        NONE = "none", _("无")
        JSON = "json", _("JSON（同名 .json）")
        CSV = "csv", _("CSV（同名 .csv）")

    class AfterDownload(models.TextChoices):
        KEEP = "keep", _("保留原文件")
        MOVE = "move", _("移到已处理目录")
        DELETE = "delete", _("删除原文件")

    name = models.CharField(_("名称"), max_length=100, unique=True)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.SFTP)
    host = models.CharField(_("主机"), max_length=255, blank=True)
    port = models.PositiveIntegerField(_("端口"), default=22)
    username = models.CharField(_("用户名"), max_length=100, blank=True)
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
        _("主机公钥指纹"), max_length=100, blank=True,
        help_text=_("SHA256:… 格式（ssh-keygen -lf 的输出）；指纹不符时拒绝连接"),
    )
    remote_dir = models.CharField(
        _("远程目录"), max_length=500, default=".",
        help_text=_("SFTP 来源为服务器上的目录；本地目录来源为本机的绝对路径"),
    )
    recursive = models.BooleanField(_("包含子目录"), default=False)
    include_globs = models.CharField(
        _("文件名匹配"), max_length=500, default=DEFAULT_GLOBS,
        help_text=_("以空格分隔的通配符，不区分大小写，例如 *.wav *.mp3"),
    )
    agent_channel = models.CharField(
        _("坐席声道"), max_length=10, choices=AgentChannel.choices, default=AgentChannel.LEFT
    )
    filename_pattern = models.TextField(
        _("文件名规则"), blank=True,
        help_text=_("正则表达式，可用命名组 call_id、agent_id、started_at、customer_phone、"
                    "direction、queue，例如 (?P<agent_id>A\\d+)_(?P<started_at>\\d{14})"),
    )
    metadata_format = models.CharField(
        _("随附话单"), max_length=10, choices=MetadataFormat.choices,
        default=MetadataFormat.JSON,
    )
    metadata_fields = models.JSONField(
        _("话单字段映射"), default=dict, blank=True,
        help_text=_('通话字段 → 话单中的键或列名，例如 {"agent_id": "AgentNo"}；未写的按同名'),
    )
    after_download = models.CharField(
        _("下载后"), max_length=10, choices=AfterDownload.choices, default=AfterDownload.KEEP
    )
    processed_dir = models.CharField(
        _("已处理目录"), max_length=500, default="processed",
        help_text=_("相对远程目录的路径，可用 {date} 表示日期"),
    )
    schedule = models.CharField(
        _("拉取计划"), max_length=100, default="*/10 * * * *",
        help_text=_("cron 表达式：分 时 日 月 周"),
    )
    stable_seconds = models.PositiveIntegerField(
        _("稳定等待（秒）"), default=60,
        help_text=_("文件大小和修改时间保持不变这么久之后才拉取，以免拉到正在写入的文件"),
    )
    max_transfers = models.PositiveSmallIntegerField(_("最大并发传输"), default=2)
    enabled = models.BooleanField(_("启用"), default=True)
    last_pulled_at = models.DateTimeField(_("上次拉取"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    last_error_at = models.DateTimeField(_("最近错误时间"), null=True, blank=True)
    # A lease, not a lock held by a connection: a crashed worker's lease just expires.
    lock_owner = models.CharField(_("拉取任务"), max_length=100, blank=True, editable=False)
    lock_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("录音来源")
        verbose_name_plural = _("录音来源")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def globs(self) -> list[str]:
        return [g for g in self.include_globs.split() if g]

    def matches(self, path: str) -> bool:
        name = PurePosixPath(path).name.lower()
        return any(fnmatch.fnmatchcase(name, glob.lower()) for glob in self.globs)

    def is_pulling(self) -> bool:
        return bool(self.lock_expires_at and self.lock_expires_at > timezone.now())

    def clean(self) -> None:
        from transcription.secrets import is_valid_reference

        errors: dict[str, str] = {}
        if self.kind == self.Kind.SFTP:
            for field in ("host", "username", "host_key_fingerprint"):
                if not getattr(self, field).strip():
                    errors[field] = str(_("SFTP 来源必须填写此项"))
            if not (self.password_ref or self.private_key_ref):
                errors["password_ref"] = str(_("需要密码引用或私钥引用"))
            fingerprint = self.host_key_fingerprint.strip()
            if fingerprint and not _FINGERPRINT.match(fingerprint):
                errors["host_key_fingerprint"] = str(
                    _("应为 SHA256: 开头的指纹，例如 ssh-keygen -lf 的输出")
                )
        elif not PurePosixPath(self.remote_dir).is_absolute():
            errors["remote_dir"] = str(_("本地目录必须是绝对路径"))
        for field in ("password_ref", "private_key_ref"):
            if not is_valid_reference(getattr(self, field)):
                errors[field] = str(_("应为 env:变量名 或 file:/路径"))
        if not self.globs:
            errors["include_globs"] = str(_("至少需要一个通配符"))
        if self.filename_pattern:
            try:
                groups = set(re.compile(self.filename_pattern).groupindex)
            except re.error as exc:
                errors["filename_pattern"] = str(_("正则表达式无效：%(e)s") % {"e": exc})
            else:
                unknown = groups - PATTERN_GROUPS
                if unknown:
                    errors["filename_pattern"] = str(
                        _("不支持的命名组：%(g)s") % {"g": "、".join(sorted(unknown))}
                    )
        if not isinstance(self.metadata_fields, dict) or not all(
            k in CALL_FIELDS and isinstance(v, str) for k, v in self.metadata_fields.items()
        ):
            errors["metadata_fields"] = str(
                _("应为 JSON 对象，键为 %(f)s 之一，值为字符串") % {"f": ", ".join(CALL_FIELDS)}
            )
        processed = PurePosixPath(self.processed_dir)
        if self.after_download == self.AfterDownload.MOVE and (
            not self.processed_dir.strip() or processed.is_absolute() or ".." in processed.parts
        ):
            errors["processed_dir"] = str(_("必须是远程目录下的相对路径，不能包含 .."))
        fields = self.schedule.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            errors["schedule"] = str(_("应为 5 段 cron 表达式，例如 */10 * * * *"))
        if not 1 <= self.max_transfers <= 16:
            errors["max_transfers"] = str(_("应在 1 到 16 之间"))
        if errors:
            raise ValidationError(errors)


class SourceFile(models.Model):
    """The ledger: every file seen on a source, so each is taken exactly once, when stable."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("等待文件稳定")
        FAILED = "failed", _("拉取失败，将重试")
        DONE = "done", _("已拉取")
        REJECTED = "rejected", _("已拒收")

    source = models.ForeignKey(RecordingSource, verbose_name=_("来源"), related_name="files",
                               on_delete=models.CASCADE)
    # The exact remote bytes may not be UTF-8; path_key identifies them, path displays them.
    path = models.TextField(_("远程路径"))
    path_key = models.CharField(max_length=64)
    raw_path = models.BinaryField(editable=False)
    size = models.BigIntegerField(_("大小"))
    mtime = models.BigIntegerField(_("修改时间"))
    # When the current size and mtime were first observed.
    stable_since = models.DateTimeField(_("稳定起始"), default=timezone.now)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices,
                              default=Status.WAITING)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    recording = models.ForeignKey("transcription.Recording", verbose_name=_("录音"),
                                  related_name="source_files", on_delete=models.SET_NULL,
                                  null=True, blank=True)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    error = models.TextField(_("原因"), blank=True)
    first_seen_at = models.DateTimeField(_("首次发现"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("来源文件")
        verbose_name_plural = _("来源文件")
        ordering = ["source", "path"]
        constraints = [
            models.UniqueConstraint(fields=["source", "path_key"], name="sourcefile_unique_path"),
        ]
        indexes = [models.Index(fields=["source", "status"], name="sourcefile_status")]

    def __str__(self) -> str:
        return self.path

    def is_stable(self, *, stable_seconds: int, now: object = None) -> bool:
        moment = now or timezone.now()
        return self.stable_since + timedelta(seconds=stable_seconds) <= moment  # type: ignore[operator]


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
    waiting = models.PositiveIntegerField(_("等待稳定"), default=0)
    ready = models.PositiveIntegerField(_("本次拉取"), default=0)  # stable files to take
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

    @property
    def percent(self) -> int:
        """How far a pull is through the files it decided to take."""
        if self.status != self.Status.RUNNING:
            return 100
        if not self.ready:
            return 0
        return min(100, round(100 * (self.downloaded + self.failed) / self.ready))

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

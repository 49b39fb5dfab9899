from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        abstract = True


class Team(TimeStampedModel):
    name = models.CharField(_("名称"), max_length=100, unique=True)
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("质检主管"),
        related_name="supervised_teams",
        blank=True,
    )

    class Meta:
        verbose_name = _("班组")
        verbose_name_plural = _("班组")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Agent(TimeStampedModel):
    # 工号 as the call platform reports it; calls are matched to agents by it.
    code = models.CharField(_("工号"), max_length=50, unique=True)
    name = models.CharField(_("姓名"), max_length=100, blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name=_("班组"),
        related_name="agents",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("登录账号"),
        related_name="agent_profile",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    is_active = models.BooleanField(_("在职"), default=True)

    class Meta:
        verbose_name = _("坐席")
        verbose_name_plural = _("坐席")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()


class AuditEvent(models.Model):
    """Append-only, hash-chained record of who saw or changed what.

    Each row's hash covers its content and the previous row's hash, so editing
    or deleting a past row breaks the chain (`audit_verify` finds where).
    """

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("用户"),
                             on_delete=models.SET_NULL, null=True, blank=True)
    username = models.CharField(_("用户名"), max_length=150)
    action = models.CharField(_("操作"), max_length=50, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=50, blank=True)
    object_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    details = models.JSONField(_("详情"), default=dict, blank=True)
    prev_hash = models.CharField(_("前一条哈希"), max_length=64)
    hash = models.CharField(_("哈希"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ["-id"]
        # A call's history of changes reads its events by object.
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)


class WorkerHeartbeat(models.Model):
    """Each Celery worker process says it is alive, and what it serves, every few seconds."""

    node = models.CharField(_("节点"), max_length=200)
    pid = models.PositiveIntegerField(_("进程号"))
    queues = models.CharField(_("队列"), max_length=200, blank=True)
    engine = models.CharField(_("转写引擎"), max_length=50, blank=True)
    device = models.CharField(_("设备"), max_length=50, blank=True)
    model_version = models.CharField(_("模型版本"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("启动时间"), default=timezone.now)
    last_seen = models.DateTimeField(_("最近心跳"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("工作进程心跳")
        verbose_name_plural = _("工作进程心跳")
        constraints = [models.UniqueConstraint(fields=["node", "pid"], name="heartbeat_unique")]

    def __str__(self) -> str:
        return f"{self.node}#{self.pid}"

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from qa_platform.models import TimeStampedModel
from transcription.models import Recording, Segment


class Severity(models.TextChoices):
    INFO = "info", _("提示")
    MINOR = "minor", _("一般")
    MAJOR = "major", _("严重")
    CRITICAL = "critical", _("致命")


SEVERITY_RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class Rule(TimeStampedModel):
    class RoleFilter(models.TextChoices):
        ANY = "any", _("任意一方")
        AGENT = "agent", _("坐席")
        CUSTOMER = "customer", _("客户")

    name = models.CharField(_("名称"), max_length=100, unique=True)
    description = models.TextField(_("说明"), blank=True)
    keywords = models.JSONField(_("关键词"), default=list, help_text=_("命中任意一个即触发"))
    role = models.CharField(_("说话方"), max_length=10, choices=RoleFilter.choices,
                            default=RoleFilter.ANY)
    severity = models.CharField(_("严重程度"), max_length=10, choices=Severity.choices,
                                default=Severity.MINOR)
    reason_template = models.CharField(
        _("命中说明模板"), max_length=200, default="命中关键词「{keyword}」",
        help_text=_("可用 {keyword}、{role}"),
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("质检规则")
        verbose_name_plural = _("质检规则")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Hit(models.Model):
    recording = models.ForeignKey(Recording, verbose_name=_("录音"), related_name="hits",
                                  on_delete=models.CASCADE)
    rule = models.ForeignKey(Rule, verbose_name=_("规则"), related_name="hits",
                             on_delete=models.PROTECT)
    segment = models.ForeignKey(Segment, verbose_name=_("片段"), related_name="hits",
                                on_delete=models.CASCADE)
    char_start = models.PositiveIntegerField(_("起始字符"))
    char_end = models.PositiveIntegerField(_("结束字符"))
    start_ms = models.PositiveIntegerField(_("开始（毫秒）"))
    end_ms = models.PositiveIntegerField(_("结束（毫秒）"))
    matched_text = models.CharField(_("命中文本"), max_length=200)
    reason = models.CharField(_("命中说明"), max_length=300)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("规则命中")
        verbose_name_plural = _("规则命中")
        ordering = ["recording", "start_ms"]
        indexes = [models.Index(fields=["rule", "created_at"], name="hit_rule_created")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.matched_text}"

"""Rules, scorecards and what they say about each call.

Versioning: a `Rule` is a stable identity (its key) with immutable `RuleVersion`s; a `Scorecard`
likewise has immutable `ScorecardVersion`s (labels, points, critical items, manual items,
sections). A `RuleSetVersion` is what runs: one scorecard version plus one version of each rule.
Editing a rule or the scorecard creates a new version and a new draft rule-set version; exactly
one rule-set version is active at a time, and every `CallScore` records the one it used.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qa_platform.models import TimeStampedModel
from transcription.models import Recording, Segment


class Severity(models.TextChoices):
    INFO = "info", _("提示")
    MINOR = "minor", _("一般")
    MAJOR = "major", _("严重")
    CRITICAL = "critical", _("致命")


SEVERITY_RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class RuleSet(TimeStampedModel):
    """A QA standard as the platform runs it (规则方案), e.g. the standard pack."""

    name = models.SlugField(_("标识"), max_length=100, unique=True)
    title = models.CharField(_("名称"), max_length=200)
    description = models.TextField(_("说明"), blank=True)

    class Meta:
        verbose_name = _("规则方案")
        verbose_name_plural = _("规则方案")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.title


class Rule(TimeStampedModel):
    """A rule's identity across versions; `key` is what labels and preconditions refer to."""

    rule_set = models.ForeignKey(RuleSet, verbose_name=_("规则方案"), related_name="rules",
                                 on_delete=models.CASCADE)
    key = models.CharField(_("规则标识"), max_length=100)

    class Meta:
        verbose_name = _("质检规则")
        verbose_name_plural = _("质检规则")
        ordering = ["rule_set", "key"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "key"], name="rule_unique_key"),
        ]

    def __str__(self) -> str:
        return self.key


class RuleVersion(models.Model):
    """One immutable version of a rule: the rule document the engine compiles."""

    rule = models.ForeignKey(Rule, verbose_name=_("规则"), related_name="versions",
                             on_delete=models.CASCADE)
    number = models.PositiveIntegerField(_("版本号"))
    name = models.CharField(_("名称"), max_length=200)
    severity = models.CharField(_("严重程度"), max_length=10, choices=Severity.choices)
    document = models.JSONField(_("规则定义"))
    comment = models.CharField(_("修改说明"), max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("创建人"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("规则版本")
        verbose_name_plural = _("规则版本")
        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"


class Scorecard(TimeStampedModel):
    rule_set = models.OneToOneField(RuleSet, verbose_name=_("规则方案"),
                                    related_name="scorecard", on_delete=models.CASCADE)

    class Meta:
        verbose_name = _("质检评分表")
        verbose_name_plural = _("质检评分表")

    def __str__(self) -> str:
        return str(self.rule_set)


class ScorecardVersion(models.Model):
    """Labels (how items are read from rules) and the scorecard (points, critical, manual)."""

    scorecard = models.ForeignKey(Scorecard, verbose_name=_("评分表"), related_name="versions",
                                  on_delete=models.CASCADE)
    number = models.PositiveIntegerField(_("版本号"))
    labels = models.JSONField(_("质检项"))
    document = models.JSONField(_("评分规则"))
    comment = models.CharField(_("修改说明"), max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("创建人"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("评分表版本")
        verbose_name_plural = _("评分表版本")
        ordering = ["scorecard", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["scorecard", "number"],
                                    name="scorecard_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scorecard} 评分表 v{self.number}"


class RuleSetVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("草稿")
        ACTIVE = "active", _("生效中")
        RETIRED = "retired", _("已停用")

    rule_set = models.ForeignKey(RuleSet, verbose_name=_("规则方案"), related_name="versions",
                                 on_delete=models.CASCADE)
    number = models.PositiveIntegerField(_("版本号"))
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices,
                              default=Status.DRAFT)
    scorecard_version = models.ForeignKey(ScorecardVersion, verbose_name=_("评分表版本"),
                                          on_delete=models.PROTECT, related_name="+")
    rule_versions = models.ManyToManyField(RuleVersion, verbose_name=_("规则版本"),
                                           related_name="rule_set_versions")
    comment = models.CharField(_("修改说明"), max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("创建人"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    activated_at = models.DateTimeField(_("生效时间"), null=True, blank=True)
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("生效操作人"),
                                     null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        verbose_name = _("规则方案版本")
        verbose_name_plural = _("规则方案版本")
        ordering = ["rule_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "number"],
                                    name="rule_set_version_unique"),
            # One version runs at a time: every new call is analyzed with it.
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"),
                                    name="rule_set_version_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_set} v{self.number}"


class CallScore(models.Model):
    """The latest analysis of a call: labels, metrics, sentiment, score and why it is flagged."""

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", _("待复核")
        IN_REVIEW = "in_review", _("复核中")
        FINALIZED = "finalized", _("已定稿")

    recording = models.OneToOneField(Recording, verbose_name=_("录音"), related_name="score",
                                     on_delete=models.CASCADE)
    rule_set_version = models.ForeignKey(RuleSetVersion, verbose_name=_("规则方案版本"),
                                         on_delete=models.PROTECT, related_name="scores")
    scorecard_version = models.ForeignKey(ScorecardVersion, verbose_name=_("评分表版本"),
                                          on_delete=models.PROTECT, related_name="+")
    # key → version of the rules the score's items were read from (each hit has its own).
    rule_versions = models.JSONField(_("规则版本"), default=dict)
    auto_score = models.PositiveSmallIntegerField(_("自动得分"))
    score = models.PositiveSmallIntegerField(_("得分"), db_index=True)
    flagged = models.BooleanField(_("需复核"), db_index=True)
    flag_reasons = models.JSONField(_("复核原因"), default=list)
    critical = models.BooleanField(_("严重违规"), default=False)
    severity_rank = models.PositiveSmallIntegerField(_("最高严重程度"), default=0)
    hit_count = models.PositiveIntegerField(_("命中数"), default=0)
    items = models.JSONField(_("评分明细"), default=list)
    labels = models.JSONField(_("质检项结果"), default=dict)
    outcomes = models.JSONField(_("规则结果"), default=dict)
    manual = models.JSONField(_("人工评分项"), default=dict)  # item key → pass/fail/na
    # label key → value, set when an appeal against an automatic item is accepted and no hit
    # could be dismissed (e.g. a required phrase the ASR missed); kept across re-analysis.
    overrides = models.JSONField(_("改判的评分项"), default=dict, blank=True)
    pending_manual = models.JSONField(_("待填人工项"), default=list)
    metrics = models.JSONField(_("通话指标"), default=dict)
    sentiment = models.JSONField(_("情绪"), default=dict)
    segment_sentiment = models.JSONField(_("逐句情绪"), default=dict)
    customer_sentiment_end = models.CharField(_("客户结束情绪"), max_length=10, blank=True,
                                              db_index=True)
    rule_errors = models.JSONField(_("规则运行错误"), default=dict)
    # Which transcript and model versions `metrics` and `sentiment` were computed from: a
    # re-analysis with new rules reuses them while the key still matches.
    features_key = models.CharField(_("特征版本"), max_length=64, blank=True)
    review_status = models.CharField(_("复核状态"), max_length=10,
                                     choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    finalized_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("定稿人"),
                                     null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    finalized_at = models.DateTimeField(_("定稿时间"), null=True, blank=True)
    analyzed_at = models.DateTimeField(_("分析时间"))
    # When the call was first scored: the appeal window counts from here, so re-analysing the
    # call with new rules does not reopen it.
    first_analyzed_at = models.DateTimeField(_("首次评分时间"), null=True, blank=True)
    # The review queue: who is to review it, and whether it is there only as a calibration
    # sample (an unflagged call drawn at random per agent and week).
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("复核人"),
                                    null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="assigned_scores")
    assigned_at = models.DateTimeField(_("分配时间"), null=True, blank=True)
    sampled = models.BooleanField(_("抽检"), default=False)

    class Meta:
        verbose_name = _("通话评分")
        verbose_name_plural = _("通话评分")
        indexes = [
            models.Index(fields=["flagged", "severity_rank"], name="score_flag_severity"),
            models.Index(fields=["rule_set_version"], name="score_version"),
        ]

    def __str__(self) -> str:
        return f"{self.recording_id}: {self.score}"


class Hit(models.Model):
    """A rule that fired on a call, with its evidence; what a reviewer confirms or dismisses."""

    class Review(models.TextChoices):
        PENDING = "pending", _("待确认")
        CONFIRMED = "confirmed", _("已确认")
        DISMISSED = "dismissed", _("已驳回")

    recording = models.ForeignKey(Recording, verbose_name=_("录音"), related_name="hits",
                                  on_delete=models.CASCADE)
    rule = models.ForeignKey(Rule, verbose_name=_("规则"), related_name="hits",
                             on_delete=models.PROTECT)
    rule_version = models.ForeignKey(RuleVersion, verbose_name=_("规则版本"),
                                     related_name="hits", on_delete=models.PROTECT)
    severity = models.CharField(_("严重程度"), max_length=10, choices=Severity.choices)
    reason = models.CharField(_("命中说明"), max_length=500)
    # Every piece of evidence: segment_id (null for a stretch of time), char_start, char_end,
    # start_ms, end_ms, text, note. The first one is copied below for ordering and seeking.
    evidence = models.JSONField(_("证据"), default=list)
    occurrences = models.PositiveIntegerField(_("次数"), default=1)
    segment = models.ForeignKey(Segment, verbose_name=_("片段"), related_name="hits",
                                null=True, blank=True, on_delete=models.CASCADE)
    start_ms = models.PositiveIntegerField(_("开始（毫秒）"))
    end_ms = models.PositiveIntegerField(_("结束（毫秒）"))
    matched_text = models.CharField(_("命中文本"), max_length=200, blank=True)
    review = models.CharField(_("复核结论"), max_length=10, choices=Review.choices,
                              default=Review.PENDING)
    review_comment = models.CharField(_("复核意见"), max_length=500, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("复核人"),
                                    null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_at = models.DateTimeField(_("复核时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("规则命中")
        verbose_name_plural = _("规则命中")
        ordering = ["recording", "start_ms", "id"]
        indexes = [
            models.Index(fields=["rule", "created_at"], name="hit_rule_created"),
            models.Index(fields=["rule", "review"], name="hit_rule_review"),
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.matched_text}"


class RuleRunError(models.Model):
    """A rule raised on a call (skipped there; every other rule still ran). Shown on its page."""

    rule = models.ForeignKey(Rule, verbose_name=_("规则"), related_name="run_errors",
                             on_delete=models.CASCADE)
    rule_version = models.ForeignKey(RuleVersion, verbose_name=_("规则版本"),
                                     related_name="run_errors", on_delete=models.CASCADE)
    recording = models.ForeignKey(Recording, verbose_name=_("录音"), related_name="rule_errors",
                                  on_delete=models.CASCADE)
    message = models.TextField(_("错误"))
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("规则运行错误")
        verbose_name_plural = _("规则运行错误")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rule", "created_at"], name="rule_error_rule_created")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.message[:50]}"


class ReanalysisJob(models.Model):
    """Re-analysis of past calls with a rule-set version, in the background, resumable."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")
        CANCELLED = "cancelled", _("已取消")

    rule_set_version = models.ForeignKey(RuleSetVersion, verbose_name=_("规则方案版本"),
                                         related_name="reanalysis_jobs",
                                         on_delete=models.CASCADE)
    date_from = models.DateField(_("开始日期"))
    date_to = models.DateField(_("结束日期"))
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices,
                              default=Status.QUEUED)
    total = models.PositiveIntegerField(_("通话总数"), default=0)
    # Sums over the partitions, refreshed after every batch (the partitions are the truth).
    done = models.PositiveIntegerField(_("已分析"), default=0)
    failed = models.PositiveIntegerField(_("失败"), default=0)
    partitions = models.PositiveSmallIntegerField(_("并行分片"), default=1)
    error = models.TextField(_("错误"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("创建人"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("最近进展"), null=True, blank=True)

    class Meta:
        verbose_name = _("重新分析任务")
        verbose_name_plural = _("重新分析任务")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule_set_version} {self.date_from}–{self.date_to}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, round(100 * (self.done + self.failed) / self.total))


class ReanalysisPartition(models.Model):
    """One worker's share of a job (calls whose id % partitions == index) and its cursor.

    Each batch's results and this row's progress commit together, so a killed worker's share
    resumes after its last committed batch, and two workers never wait on one progress row.
    """

    job = models.ForeignKey(ReanalysisJob, verbose_name=_("任务"), related_name="parts",
                            on_delete=models.CASCADE)
    index = models.PositiveSmallIntegerField(_("分片"))
    last_recording_id = models.BigIntegerField(_("进度位置"), default=0)
    done = models.PositiveIntegerField(_("已分析"), default=0)
    failed = models.PositiveIntegerField(_("失败"), default=0)
    finished = models.BooleanField(_("已完成"), default=False)

    class Meta:
        verbose_name = _("重新分析分片")
        verbose_name_plural = _("重新分析分片")
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="reanalysis_partition_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.index}"


class Appeal(models.Model):
    """An agent disputes a hit or a scorecard item of one of their scored calls (申诉)."""

    class Status(models.TextChoices):
        OPEN = "open", _("待处理")
        ACCEPTED = "accepted", _("已采纳")
        REJECTED = "rejected", _("已驳回")

    recording = models.ForeignKey(Recording, verbose_name=_("录音"), related_name="appeals",
                                  on_delete=models.CASCADE)
    hit = models.ForeignKey(Hit, verbose_name=_("规则命中"), related_name="appeals", null=True,
                            blank=True, on_delete=models.SET_NULL)
    # The hit's rule key, kept because a re-analysis may replace the hit row.
    rule_key = models.CharField(_("规则标识"), max_length=100, blank=True)
    item_key = models.CharField(_("评分项"), max_length=100, blank=True)
    comment = models.TextField(_("申诉理由"))
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices,
                              default=Status.OPEN, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("申诉人"),
                                   on_delete=models.PROTECT, related_name="appeals")
    created_at = models.DateTimeField(_("申诉时间"), auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("处理人"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decision_comment = models.TextField(_("处理意见"), blank=True)
    score_before = models.PositiveSmallIntegerField(_("申诉前得分"), null=True, blank=True)
    score_after = models.PositiveSmallIntegerField(_("处理后得分"), null=True, blank=True)

    class Meta:
        verbose_name = _("申诉")
        verbose_name_plural = _("申诉")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.recording_id}: {self.rule_key or self.item_key}"


class SavedSearch(models.Model):
    """A keyword-audit search a user keeps (关键词稽核 · 保存的搜索)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("所有人"),
                              on_delete=models.CASCADE, related_name="saved_searches")
    name = models.CharField(_("名称"), max_length=100)
    query = models.JSONField(_("搜索条件"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("保存的搜索")
        verbose_name_plural = _("保存的搜索")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_search_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

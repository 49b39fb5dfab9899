"""Reads for the UI and reports, always scoped to the user."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.models import (
    CallScore,
    Hit,
    ReanalysisJob,
    Rule,
    RuleRunError,
    RuleSet,
    RuleSetVersion,
    RuleVersion,
)
from qa_platform.roles import Role, user_role
from qa_platform.scoping import scope_to_user
from transcription.models import Recording

User = AbstractBaseUser | AnonymousUser


def calls_visible(*, user: User) -> QuerySet[Recording]:
    return scope_to_user(Recording.objects.all(), user=user, agent_path="agent")


@dataclass(frozen=True)
class QueueFilters:
    """The review queue's filters; every field optional (None: not filtered)."""

    team_id: int | None = None
    agent_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    rule_id: int | None = None
    score_min: int | None = None
    score_max: int | None = None
    sentiment: str | None = None  # the customer's sentiment at the end
    review_status: str | None = None
    assigned: str | None = None  # "me" | "none" | None
    sampled: bool | None = None  # only calibration samples / only flagged calls


def calls_to_review(*, user: User, filters: QueueFilters | None = None) -> QuerySet[Recording]:
    """Flagged calls and calibration samples, most severe first, then newest."""
    f = filters or QueueFilters()
    calls = calls_visible(user=user).filter(status=Recording.Status.ANALYZED).filter(
        Q(score__flagged=True) | Q(score__sampled=True))
    if f.team_id is not None:
        calls = calls.filter(agent__team_id=f.team_id)
    if f.agent_id is not None:
        calls = calls.filter(agent_id=f.agent_id)
    if f.date_from is not None:
        calls = calls.filter(started_at__date__gte=f.date_from)
    if f.date_to is not None:
        calls = calls.filter(started_at__date__lte=f.date_to)
    if f.rule_id is not None:
        calls = calls.filter(Exists(Hit.objects.filter(
            recording_id=OuterRef("id"), rule_id=f.rule_id).exclude(review=Hit.Review.DISMISSED)))
    if f.score_min is not None:
        calls = calls.filter(score__score__gte=f.score_min)
    if f.score_max is not None:
        calls = calls.filter(score__score__lte=f.score_max)
    if f.sentiment is not None:
        calls = calls.filter(score__customer_sentiment_end=f.sentiment)
    if f.review_status is not None:
        calls = calls.filter(score__review_status=f.review_status)
    if f.assigned == "me":
        calls = calls.filter(score__assigned_to_id=getattr(user, "id", None))
    elif f.assigned == "none":
        calls = calls.filter(score__assigned_to__isnull=True)
    if f.sampled is not None:
        calls = calls.filter(score__sampled=True, score__flagged=False) if f.sampled else \
            calls.filter(score__flagged=True)
    return calls.select_related(
        "agent", "agent__team", "transcript", "score", "score__assigned_to"
    ).order_by("-score__severity_rank", "-started_at", "-id")


def queue_choices(*, user: User) -> dict[str, Any]:
    """Teams, agents, rules and reviewers the queue's filters and assignment may offer."""
    from django.contrib.auth import get_user_model

    from qa_platform.models import Agent, Team

    visible = calls_visible(user=user)
    teams = Team.objects.filter(id__in=visible.values("agent__team_id")).order_by("name")
    agents = Agent.objects.filter(id__in=visible.values("agent_id")).order_by("code")
    rules = (RuleVersion.objects.filter(rule_set_versions__status=RuleSetVersion.Status.ACTIVE)
             .select_related("rule").order_by("name"))  # fmt: skip
    role = user_role(user)
    reviewers = get_user_model().objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(groups__name=Role.ADMIN.value)
        | Q(groups__name=Role.SUPERVISOR.value, supervised_teams__in=teams)).distinct()
    if role is Role.SUPERVISOR:  # a supervisor assigns within the teams they supervise
        reviewers = reviewers.filter(Q(supervised_teams__in=teams) | Q(id=getattr(user, "id", 0)))
    return {"teams": list(teams), "agents": list(agents), "rules": list(rules),
            "reviewers": list(reviewers.distinct().order_by("username"))}  # fmt: skip


def rules_hit_by_call(recording_ids: list[int]) -> dict[int, list[dict[str, object]]]:
    """Per call, the rules it hit (not dismissed by a reviewer), for one page of the queue."""
    rows = (
        Hit.objects.filter(recording_id__in=recording_ids)
        .exclude(review=Hit.Review.DISMISSED)
        .values("recording_id", "rule_version__name", "severity", "occurrences")
        .order_by("recording_id", "rule_version__name")
    )
    result: dict[int, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        result[row["recording_id"]].append({"name": row["rule_version__name"],
                                            "severity": row["severity"],
                                            "count": row["occurrences"]})  # fmt: skip
    return result


def call_detail(*, user: User, recording_id: int) -> Recording:
    """One call the user may see; Recording.DoesNotExist otherwise (shown as 404)."""
    return calls_visible(user=user).select_related("agent", "agent__team", "transcript",
                                                   "source").get(id=recording_id)


def call_hits(*, recording: Recording) -> list[Hit]:
    return list(Hit.objects.filter(recording=recording).select_related("rule_version")
                .order_by("start_ms", "id"))  # fmt: skip


def call_score(*, recording: Recording) -> CallScore | None:
    return (CallScore.objects.select_related("rule_set_version__rule_set")
            .filter(recording=recording).first())  # fmt: skip


def call_segments_with_hits(*, recording: Recording,
                            hits: list[Hit] | None = None) -> list[dict[str, object]]:
    """Transcript turns split into plain and highlighted parts, for display."""
    if not hasattr(recording, "transcript"):
        return []
    spans: dict[int, list[tuple[int, int, Hit]]] = defaultdict(list)
    for hit in hits if hits is not None else call_hits(recording=recording):
        for e in hit.evidence:
            if e.get("segment_id") is not None and e["char_end"] > e["char_start"]:
                spans[e["segment_id"]].append((e["char_start"], e["char_end"], hit))
    turns = []
    for segment in recording.transcript.segments.order_by("index"):
        ordered = sorted(spans.get(segment.id, []), key=lambda span: (span[0], -span[1]))
        turns.append({"segment": segment, "parts": _split(segment.text, ordered)})
    return turns


def _split(text: str, spans: list[tuple[int, int, Hit]]) -> list[dict[str, object]]:
    parts: list[dict[str, object]] = []
    position = 0
    for start, end, hit in spans:
        if start < position:
            continue  # overlapping matches: the first one is shown
        if start > position:
            parts.append({"text": text[position:start], "hit": None})
        parts.append({"text": text[start:end], "hit": hit})
        position = end
    if position < len(text):
        parts.append({"text": text[position:], "hit": None})
    return parts


# -- rules -------------------------------------------------------------------------------------

RULE_VIEW_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR})
RULE_EDIT_ROLES = frozenset({Role.ADMIN})  # rules change every team's scores
BACKTEST_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})


def rule_sets_overview() -> list[dict[str, Any]]:
    """Every rule set with its versions (newest first) and its current rules."""
    out = []
    for rule_set in RuleSet.objects.order_by("name"):
        versions = list(rule_set.versions.select_related("activated_by", "created_by")
                        .order_by("-number")[:20])  # fmt: skip
        current = versions[0] if versions else None
        rule_versions = (list(current.rule_versions.select_related("rule").order_by("rule__key"))
                         if current else [])  # fmt: skip
        out.append({"rule_set": rule_set, "versions": versions, "current": current,
                    "rule_versions": rule_versions})  # fmt: skip
    return out


def rule_stats(*, user: User, rule_ids: list[int], days: int = 30) -> dict[int, dict[str, int]]:
    """Per rule, over the last `days` and the calls the user may see: hits, reviewer decisions
    and run-time errors (aggregates only)."""
    since = timezone.now() - dt.timedelta(days=days)
    visible = calls_visible(user=user).values("id")
    stats: dict[int, dict[str, int]] = {
        rule_id: {"hits": 0, "confirmed": 0, "dismissed": 0, "errors": 0} for rule_id in rule_ids
    }
    hits = (
        Hit.objects.filter(rule_id__in=rule_ids, created_at__gte=since, recording_id__in=visible)
        .values("rule_id")
        .annotate(
            hits=Count("id"),
            confirmed=Count("id", filter=Q(review=Hit.Review.CONFIRMED)),
            dismissed=Count("id", filter=Q(review=Hit.Review.DISMISSED)),
        )
    )
    for row in hits:
        stats[row["rule_id"]].update(hits=row["hits"], confirmed=row["confirmed"],
                                     dismissed=row["dismissed"])  # fmt: skip
    errors = (
        RuleRunError.objects.filter(
            rule_id__in=rule_ids, created_at__gte=since, recording_id__in=visible
        )
        .values("rule_id")
        .annotate(n=Count("id"))
        .values_list("rule_id", "n")
    )
    for rule_id, count in errors:
        stats[rule_id]["errors"] = count
    return stats


def rule_detail(*, rule_id: int) -> Rule:
    return Rule.objects.select_related("rule_set").get(id=rule_id)


def rule_current_version(*, rule: Rule) -> RuleVersion | None:
    """The version in the rule set's newest version (draft or active), else the newest one."""
    latest_set = rule.rule_set.versions.order_by("-number").first()
    if latest_set is not None:
        found = latest_set.rule_versions.filter(rule=rule).first()
        if found is not None:
            return found
    return rule.versions.order_by("-number").first()


def rule_active_version(*, rule: Rule) -> RuleVersion | None:
    return rule.versions.filter(rule_set_versions__status=RuleSetVersion.Status.ACTIVE).first()


def rule_recent_errors(*, user: User, rule: Rule, limit: int = 20) -> list[RuleRunError]:
    visible = calls_visible(user=user).values("id")
    return list(RuleRunError.objects.filter(rule=rule, recording_id__in=visible)
                .select_related("rule_version", "recording")[:limit])  # fmt: skip


def reanalysis_jobs(*, limit: int = 10) -> list[ReanalysisJob]:
    return list(ReanalysisJob.objects.select_related("rule_set_version__rule_set",
                                                     "created_by")[:limit])  # fmt: skip


# What the call page's history says for each audited change (reads are not changes).
HISTORY_ACTIONS = {
    "hit.review": _("复核规则命中"),
    "score.manual": _("填写人工评分项"),
    "score.finalize": _("定稿"),
    "appeal.create": _("提出申诉"),
    "appeal.decide": _("处理申诉"),
    "recording.retry": _("重新处理"),
}


def call_history(*, recording: Recording) -> list[dict[str, Any]]:
    """The call's changes, newest first: reviewers' and agents' decisions from the audit log
    (one indexed query by object), and its current analysis."""
    from qa_platform.models import AuditEvent

    appeal_ids = [str(i) for i in recording.appeals.values_list("id", flat=True)]
    events = AuditEvent.objects.filter(
        Q(object_type="recording", object_id=str(recording.id), action__in=HISTORY_ACTIONS)
        | Q(object_type="appeal", object_id__in=appeal_ids)
    ).order_by("-id")[:200]
    out: list[dict[str, Any]] = [
        {"at": e.at, "who": e.username, "action": HISTORY_ACTIONS.get(e.action, e.action),
         "details": e.details} for e in events
    ]  # fmt: skip
    score = CallScore.objects.filter(recording=recording).select_related(
        "rule_set_version").first()  # fmt: skip
    if score is not None:
        out.append({"at": score.analyzed_at, "who": "", "action": _("自动分析"),
                    "details": {"version": score.rule_set_version.number,
                                "score": score.auto_score}})  # fmt: skip
    return sorted(out, key=lambda row: row["at"], reverse=True)

"""Appeals (申诉): an agent disputes a hit or an automatic scorecard item of their own call.

Who and when: only the call's own agent, within `settings.APPEAL_WINDOW_DAYS` of the call's
first scoring (`first_analyzed_at`: a re-analysis does not reopen the window), with a comment,
and at most one open appeal per hit or item. A supervisor of the call's team, or an admin,
decides it once: the conditional UPDATE that closes it is the lock.

What accepting does: it is the reviewer's dismissal, so the score is recalculated the one way a
call is ever re-scored (`reviews.hit_review`, where a dismissed hit reads as "rule did not fire").
- A hit appeal dismisses that hit (or, when a re-analysis replaced the hit row, the call's live
  hits of the same rule).
- An item appeal dismisses every live hit of the rule the item is read from (the item's `rule`
  in `CallScore.items`). When that is not enough — the item lost points because a rule did
  *not* fire (a required phrase the ASR missed), or it is read from several rules — the
  item's label is overridden for this call (`CallScore.overrides`) with the value under which
  it loses nothing and is not critical; the call page marks it 已改判, and the override is
  kept when the call is re-analyzed.
The score before and after the decision is kept on the appeal; both decisions are audited.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import Appeal, CallScore, Hit
from analytics.selectors import calls_visible
from analytics.services import reviews
from analytics.services.analysis import call_score_fields, call_score_refresh
from analytics.services.rulesets import user_or_none
from qa_platform.audit import audit_record
from qa_platform.models import Team
from qa_platform.roles import Role, user_role
from qa_platform.scoping import scope_to_user
from transcription.models import Recording

User = AbstractBaseUser | AnonymousUser

COMMENT_MAX = 2000


class AppealError(ValueError):
    """An appeal that cannot be made or decided; the message is Chinese."""


def appeal_deadline(score: CallScore) -> dt.datetime:
    scored = score.first_analyzed_at or score.analyzed_at
    return scored + dt.timedelta(days=settings.APPEAL_WINDOW_DAYS)


def appeal_window_open(score: CallScore) -> bool:
    return timezone.now() <= appeal_deadline(score)


@dataclass(frozen=True)
class AppealTargets:
    """What the agent may appeal on one call: its live hits and the appealable items."""

    hits: list[Hit]
    items: list[dict[str, Any]]


def appeal_targets(*, score: CallScore) -> AppealTargets:
    """Hits not dismissed yet, and automatic items that cost points or made the call critical."""
    hits = list(Hit.objects.filter(recording_id=score.recording_id)
                .exclude(review=Hit.Review.DISMISSED)
                .select_related("rule", "rule_version").order_by("start_ms", "id"))  # fmt: skip
    return AppealTargets(hits=hits, items=appealable_items(score))


def appealable_items(score: CallScore) -> list[dict[str, Any]]:
    """Automatic scorecard items that cost points or made the call critical."""
    return [item for item in score.items
            if item.get("kind") != "manual" and (item.get("lost") or item.get("critical"))]


@transaction.atomic
def appeal_create(
    *, recording: Recording, user: User, hit: Hit | None = None, item_key: str = "", comment: str
) -> Appeal:
    """The call's own agent appeals one hit or one automatic scorecard item of the call."""
    comment = comment.strip()
    agent = recording.agent
    if agent is None or agent.user_id is None or agent.user_id != user.pk:
        raise AppealError(_("只有本通话的坐席本人可以申诉"))
    score = CallScore.objects.filter(recording_id=recording.id).first()
    if score is None:
        raise AppealError(_("该通话尚未评分，不能申诉"))
    if not appeal_window_open(score):
        deadline = timezone.localtime(appeal_deadline(score))
        raise AppealError(_("已超过申诉期限（评分后 %(days)s 天，截至 %(deadline)s）") % {
            "days": settings.APPEAL_WINDOW_DAYS, "deadline": f"{deadline:%Y-%m-%d %H:%M}"})
    if (hit is None) == (not item_key):
        raise AppealError(_("请选择要申诉的一条规则命中或一个评分项"))
    if not comment:
        raise AppealError(_("请填写申诉理由"))
    if len(comment) > COMMENT_MAX:
        raise AppealError(_("申诉理由不能超过 %(n)s 字") % {"n": COMMENT_MAX})
    # One appeal at a time per call: the "at most one open appeal" check below must not race.
    Recording.objects.select_for_update().filter(id=recording.id).first()
    targets = appeal_targets(score=score)
    open_appeals = Appeal.objects.filter(recording_id=recording.id, status=Appeal.Status.OPEN)
    if hit is not None:
        target = next((h for h in targets.hits if h.id == hit.id), None)
        if target is None:
            if Hit.objects.filter(id=hit.id, recording_id=recording.id).exists():
                raise AppealError(_("该规则命中已被驳回，无需申诉"))
            raise AppealError(_("该规则命中不属于本通话"))
        if open_appeals.filter(hit_id=target.id).exists():
            raise AppealError(_("「%(name)s」已有待处理的申诉")
                              % {"name": target.rule_version.name})  # fmt: skip
        hit, rule_key, what = target, target.rule.key, target.rule_version.name
    else:
        item = next((i for i in score.items
                     if i.get("key") == item_key and i.get("kind") != "manual"), None)  # fmt: skip
        if item is None:
            raise AppealError(_("本通话的评分表没有自动评分项「%(key)s」") % {"key": item_key})
        if not any(i["key"] == item_key for i in targets.items):
            raise AppealError(_("评分项「%(title)s」没有扣分，无需申诉")
                              % {"title": item["title"]})  # fmt: skip
        if open_appeals.filter(item_key=item_key).exists():
            raise AppealError(_("评分项「%(title)s」已有待处理的申诉") % {"title": item["title"]})
        rule_key, what = str(item.get("rule") or ""), str(item["title"])
    appeal = Appeal.objects.create(
        recording=recording, hit=hit, rule_key=rule_key,
        item_key=item_key if hit is None else "", comment=comment, created_by_id=user.pk,
        score_before=score.score,
    )  # fmt: skip
    audit_record(user=user, action="appeal.create", object_type="appeal", object_id=appeal.id,
                 details={"recording": recording.id, "hit": appeal.hit_id, "rule": rule_key,
                          "item": appeal.item_key, "target": what, "comment": comment[:200],
                          "score": score.score})  # fmt: skip
    return appeal


def appeal_can_decide(*, appeal: Appeal, user: User) -> bool:
    """Admins, and supervisors of the team of the call's agent."""
    role = user_role(user)
    if role is Role.ADMIN:
        return True
    if role is not Role.SUPERVISOR:
        return False
    team_id = (Recording.objects.filter(id=appeal.recording_id)
               .values_list("agent__team_id", flat=True).first())  # fmt: skip
    return team_id is not None and Team.objects.filter(id=team_id, supervisors=user.pk).exists()


@transaction.atomic
def appeal_decide(*, appeal: Appeal, user: User, accept: bool, comment: str) -> Appeal:
    """Accept (dismiss what was appealed; the call is re-scored) or reject an open appeal."""
    comment = comment.strip()
    if not appeal_can_decide(appeal=appeal, user=user):
        raise AppealError(_("只有该坐席所在班组的质检主管或管理员可以处理申诉"))
    if not accept and not comment:
        raise AppealError(_("驳回申诉时请填写处理意见"))
    if len(comment) > COMMENT_MAX:
        raise AppealError(_("处理意见不能超过 %(n)s 字") % {"n": COMMENT_MAX})
    score = CallScore.objects.filter(recording_id=appeal.recording_id).first()
    before = score.score if score is not None else None
    status = Appeal.Status.ACCEPTED if accept else Appeal.Status.REJECTED
    closed = Appeal.objects.filter(id=appeal.id, status=Appeal.Status.OPEN).update(
        status=status, decided_by=user_or_none(user), decided_at=timezone.now(),
        decision_comment=comment, score_before=before, score_after=before,
    )  # fmt: skip
    if not closed:
        raise AppealError(_("该申诉已处理，不能再次处理"))
    dismissed: list[int] = []
    after = before
    if accept and score is not None:
        note = f"申诉采纳：{comment}" if comment else "申诉采纳"
        for hit in _appealed_hits(appeal, score):
            after = reviews.hit_review(hit=hit, decision=Hit.Review.DISMISSED, comment=note,
                                       user=user).score  # fmt: skip
            dismissed.append(hit.id)
        if appeal.item_key:
            overridden = _override_item(appeal.recording_id, appeal.item_key)
            if overridden is not None:
                after = overridden.score
        Appeal.objects.filter(id=appeal.id).update(score_after=after)
    audit_record(user=user, action="appeal.decide", object_type="appeal", object_id=appeal.id,
                 details={"recording": appeal.recording_id, "status": status,
                          "comment": comment[:200], "dismissed_hits": dismissed,
                          "overridden_item": appeal.item_key if accept else "",
                          "score_before": before, "score_after": after})  # fmt: skip
    appeal.refresh_from_db()
    return appeal


def _override_item(recording_id: int, item_key: str) -> CallScore | None:
    """Override the item's label so it loses nothing, unless it already does; re-score.

    The value is the first of True, False, None (does not apply) under which the scorecard
    takes no points for the item and does not call it critical.
    """
    score = (CallScore.objects.select_for_update().select_related("rule_set_version")
             .get(recording_id=recording_id))  # fmt: skip
    item = next((i for i in score.items if i.get("key") == item_key), None)
    if item is None or item.get("kind") == "manual":
        return None
    if not (item.get("lost") or item.get("critical")):
        return None
    hits = list(Hit.objects.filter(recording_id=recording_id))
    for value in (True, False, None):
        trial = {**score.overrides, item_key: value}
        fields = call_score_fields(score, hits=hits, overrides=trial)
        result = next((i for i in fields["items"] if i["key"] == item_key), None)
        if result is not None and not result["lost"] and not result["critical"]:
            score.overrides = trial
            score.save(update_fields=["overrides"])
            return call_score_refresh(recording_id=recording_id)
    return None


def _appealed_hits(appeal: Appeal, score: CallScore) -> list[Hit]:
    live = Hit.objects.filter(recording_id=appeal.recording_id).exclude(review=Hit.Review.DISMISSED)
    if not appeal.item_key and appeal.hit_id is not None:
        return list(live.filter(id=appeal.hit_id))
    rule_key = appeal.rule_key
    if appeal.item_key:  # the rule the item is read from now (a new scorecard may remap it)
        rule_key = next(
            (
                str(i["rule"])
                for i in score.items
                if i.get("key") == appeal.item_key and i.get("rule")
            ),
            rule_key,
        )
    return list(live.filter(rule__key=rule_key)) if rule_key else []


# -- reads for the appeal pages, scoped to the user --------------------------------------------


def appeals_visible(*, user: User) -> QuerySet[Appeal]:
    """Agents: appeals on their own calls; supervisors: their teams'; auditors, admins: all."""
    return scope_to_user(Appeal.objects.all(), user=user, agent_path="recording__agent")


def appeals_list(*, user: User, status: str = "") -> QuerySet[Appeal]:
    """Open appeals first (oldest first: they have waited longest), then the rest newest first."""
    appeals = appeals_visible(user=user)
    if status:
        appeals = appeals.filter(status=status)
    is_open = Case(When(status=Appeal.Status.OPEN, then=Value(0)), default=Value(1),
                   output_field=IntegerField())  # fmt: skip
    return (appeals.select_related("recording__agent__team", "recording__score", "created_by",
                                   "decided_by", "hit__rule_version")
            .annotate(is_open=is_open).order_by("is_open", "-created_at", "-id"))  # fmt: skip


def call_appeals(*, user: User, recording: Recording) -> QuerySet[Appeal]:
    """The appeals on one call that the user may see, newest first."""
    return (appeals_visible(user=user).filter(recording=recording)
            .select_related("recording__agent", "recording__score", "created_by",
                            "decided_by", "hit__rule_version")
            .order_by("-created_at", "-id"))  # fmt: skip


def appeal_status_counts(*, user: User) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for status in appeals_visible(user=user).values_list("status", flat=True):
        counts[status] += 1
    counts[""] = sum(counts.values())
    return dict(counts)


@dataclass(frozen=True)
class AppealRow:
    appeal: Appeal
    kind: str  # "hit" | "item"
    target: str
    can_decide: bool


def appeal_rows(appeals: Iterable[Appeal], *, user: User) -> list[AppealRow]:
    """Each appeal with what it disputes in words and whether `user` may decide it."""
    rows = []
    decidable_teams: set[int] | None = None
    role = user_role(user)
    if role is Role.SUPERVISOR:
        decidable_teams = set(Team.objects.filter(supervisors=user.pk).values_list("id", flat=True))
    for appeal in appeals:
        if appeal.item_key:
            score = getattr(appeal.recording, "score", None)
            titles = {i["key"]: i["title"] for i in score.items} if score is not None else {}
            kind, target = "item", str(titles.get(appeal.item_key, appeal.item_key))
        else:
            hit = appeal.hit
            kind, target = "hit", hit.rule_version.name if hit is not None else appeal.rule_key
        agent = appeal.recording.agent
        can_decide = appeal.status == Appeal.Status.OPEN and (
            role is Role.ADMIN or (decidable_teams is not None and agent is not None
                                   and agent.team_id in decidable_teams))  # fmt: skip
        rows.append(AppealRow(appeal=appeal, kind=kind, target=target, can_decide=can_decide))
    return rows


def my_calls(*, user: User) -> QuerySet[Recording]:
    """The scored calls of the agent the user logs in as, newest first."""
    if not user.is_authenticated:
        return Recording.objects.none()
    return (calls_visible(user=user).filter(agent__user_id=int(user.pk), score__isnull=False)
            .select_related("score", "agent").order_by("-started_at", "-id"))  # fmt: skip


def appeal_status_by_call(recording_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per call, how many of its appeals are in each status."""
    result: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = Appeal.objects.filter(recording_id__in=recording_ids).values_list(
        "recording_id", "status"
    )
    for recording_id, status in rows:
        result[recording_id][status] += 1
    return {k: dict(v) for k, v in result.items()}

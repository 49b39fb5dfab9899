"""What a reviewer decides about a call: confirm or dismiss hits, fill manual items, finalize.

Every decision re-scores the call from its stored outcomes (a dismissed hit reads as "the rule
did not fire") and is written to the audit log. A finalized call can still be corrected; the
correction is audited like the first decision.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import CallScore, Hit
from analytics.rulepack import MANUAL_VALUES
from analytics.services.analysis import call_score_refresh
from analytics.services.rulesets import compiled_version, user_or_none
from qa_platform.audit import audit_record

User = AbstractBaseUser | AnonymousUser


class ReviewError(ValueError):
    """A decision that cannot be taken; the message is Chinese."""


@transaction.atomic
def hit_review(*, hit: Hit, decision: str, comment: str, user: User) -> CallScore:
    if decision not in (Hit.Review.CONFIRMED, Hit.Review.DISMISSED, Hit.Review.PENDING):
        raise ReviewError(_("无效的复核结论：%(value)s") % {"value": decision})
    previous = hit.review
    Hit.objects.filter(id=hit.id).update(
        review=decision, review_comment=comment[:500], reviewed_by=user_or_none(user),
        reviewed_at=timezone.now() if decision != Hit.Review.PENDING else None,
    )  # fmt: skip
    score = call_score_refresh(recording_id=hit.recording_id)
    audit_record(user=user, action="hit.review", object_type="recording",
                 object_id=hit.recording_id,
                 details={"hit": hit.id, "rule": hit.rule.key, "from": previous, "to": decision,
                          "comment": comment[:200], "score": score.score})  # fmt: skip
    return score


@transaction.atomic
def manual_items_set(*, score: CallScore, answers: Mapping[str, str], user: User) -> CallScore:
    """Set manual scorecard items ("pass"/"fail"/"na"; "" clears one)."""
    compiled = compiled_version(score.rule_set_version)
    known = compiled.pack.scorecard.manual
    manual = dict(score.manual)
    for key, value in answers.items():
        if key not in known:
            raise ReviewError(_("评分表没有人工项「%(key)s」") % {"key": key})
        if value == "":
            manual.pop(key, None)
        elif value in MANUAL_VALUES:
            manual[key] = value
        else:
            raise ReviewError(_("人工项「%(title)s」的取值无效：%(value)s")
                              % {"title": known[key].title, "value": value})  # fmt: skip
    CallScore.objects.filter(id=score.id).update(manual=manual)
    refreshed = call_score_refresh(recording_id=score.recording_id)
    audit_record(user=user, action="score.manual", object_type="recording",
                 object_id=score.recording_id,
                 details={"manual": manual, "score": refreshed.score})  # fmt: skip
    return refreshed


@transaction.atomic
def score_finalize(*, score: CallScore, user: User) -> CallScore:
    """The reviewer signs the score off; every manual item must be filled in first."""
    score = CallScore.objects.select_for_update().get(id=score.id)
    if score.pending_manual:
        titles = {i["key"]: i["title"] for i in score.items}
        missing = "、".join(titles.get(k, k) for k in score.pending_manual)
        raise ReviewError(_("请先填写人工评分项：%(items)s") % {"items": missing})
    score.review_status = CallScore.ReviewStatus.FINALIZED
    score.finalized_by, score.finalized_at = user_or_none(user), timezone.now()
    score.save(update_fields=["review_status", "finalized_by", "finalized_at"])
    audit_record(user=user, action="score.finalize", object_type="recording",
                 object_id=score.recording_id, details={"score": score.score})  # fmt: skip
    return score

"""The review queue: assigning calls to reviewers and drawing calibration samples.

Calibration: every week, a share (REVIEW_SAMPLE_PERCENT, default 5 %) of each agent's calls
that the scorecard did NOT flag joins the queue, so reviewers also see what the rules let
through. The draw is seeded by week and agent and tops up to the target, so running it again
(it runs daily for the current and the previous week) adds only what new calls require.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import CallScore
from analytics.selectors import calls_visible, queue_choices
from qa_platform.audit import audit_record
from transcription.models import Recording

User = AbstractBaseUser | AnonymousUser


class QueueError(ValueError):
    """A queue action that cannot be taken; the message is Chinese."""


@transaction.atomic
def calls_assign(*, recording_ids: Sequence[int], reviewer_id: int | None, user: User) -> int:
    """Assign (or with None, unassign) the given calls the user may see; returns how many."""
    if reviewer_id is not None and reviewer_id not in {
        r.id for r in queue_choices(user=user)["reviewers"]
    }:
        raise QueueError(_("不能分配给该用户：只能分配给负责这些班组的质检主管或管理员"))
    visible = calls_visible(user=user).filter(id__in=list(recording_ids)).values("id")
    updated = CallScore.objects.filter(recording_id__in=visible).update(
        assigned_to_id=reviewer_id, assigned_at=timezone.now() if reviewer_id else None)
    audit_record(user=user, action="queue.assign", object_type="recording",
                 object_id=",".join(str(i) for i in recording_ids[:50]),
                 details={"reviewer": reviewer_id, "calls": updated})  # fmt: skip
    return updated


def _week_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day - dt.timedelta(days=day.weekday())
    return start, start + dt.timedelta(days=6)


@transaction.atomic
def review_sample_draw(*, week_of: dt.date, percent: int | None = None) -> int:
    """Top up each agent's calibration sample for the ISO week containing `week_of`."""
    share = settings.REVIEW_SAMPLE_PERCENT if percent is None else percent
    start, end = _week_bounds(week_of)
    rows = (CallScore.objects
            .filter(flagged=False, recording__status=Recording.Status.ANALYZED,
                    recording__agent__isnull=False, recording__started_at__date__gte=start,
                    recording__started_at__date__lte=end)
            .values_list("id", "recording__agent_id", "sampled")
            .order_by("id"))  # fmt: skip
    by_agent: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for score_id, agent_id, sampled in rows:
        by_agent[agent_id].append((score_id, sampled))
    chosen: list[int] = []
    for agent_id, scores in by_agent.items():
        target = math.ceil(len(scores) * share / 100)
        already = sum(1 for _, sampled in scores if sampled)
        candidates = [score_id for score_id, sampled in scores if not sampled]
        needed = max(0, target - already)
        if needed and candidates:
            rng = random.Random(f"{start.isoformat()}:{agent_id}:{len(candidates)}")  # noqa: S311 (a reproducible sample, not a secret)
            chosen.extend(rng.sample(candidates, min(needed, len(candidates))))
    CallScore.objects.filter(id__in=chosen).update(sampled=True)
    if chosen:
        audit_record(user=None, action="queue.sample", object_type="week",
                     object_id=start.isoformat(),
                     details={"percent": share, "calls": len(chosen)})  # fmt: skip
    return len(chosen)


def review_sample_recent() -> int:
    """The daily top-up: this week and last week (calls analyzed late still count)."""
    today = timezone.localdate()
    return (review_sample_draw(week_of=today)
            + review_sample_draw(week_of=today - dt.timedelta(days=7)))  # fmt: skip

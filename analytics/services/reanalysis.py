"""Retroactive re-analysis: past calls scored again with a newly activated rule-set version.

A job walks the calls of a date range in id order, a batch at a time, split into shares that
several workers run in parallel. Each batch's results and its share's progress
(`last_recording_id`, counts) are committed in the same transaction, so a killed worker resumes
exactly where its last batch ended and no call is counted twice; running a finished job again
does nothing. A task runs for a bounded time and re-queues itself, so one
long job never holds a worker for hours, and a beat task picks up jobs whose worker died.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Mod
from django.utils import timezone

from analytics.models import ReanalysisJob, ReanalysisPartition, RuleSetVersion
from analytics.services.analysis import analyze, load_calls, load_features, store
from analytics.services.rulesets import compiled_version, user_or_none
from qa_i18n import msg
from qa_platform.audit import audit_record
from transcription.models import Recording

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser

BATCH_SIZE = 500
TASK_SECONDS = 120  # then the task re-queues itself
STALE_AFTER = dt.timedelta(minutes=10)  # a running job with no progress for this long resumes


def calls_in_range(date_from: dt.date, date_to: dt.date) -> QuerySet[Recording]:
    """Analyzed calls that started in the range (calls with no start time: by arrival)."""
    by_start = Q(started_at__date__gte=date_from, started_at__date__lte=date_to)
    by_arrival = Q(started_at__isnull=True, created_at__date__gte=date_from,
                   created_at__date__lte=date_to)  # fmt: skip
    return Recording.objects.filter(by_start | by_arrival, status=Recording.Status.ANALYZED)


def reanalysis_start(
    *, version: RuleSetVersion, date_from: dt.date, date_to: dt.date, user: User | None,
    partitions: int | None = None,
) -> ReanalysisJob:  # fmt: skip
    """Create a job split into `partitions` shares (default REANALYSIS_PARTITIONS), queued on
    commit: with several analytics workers the shares run in parallel."""
    if date_to < date_from:
        raise ValueError(msg("结束日期早于开始日期"))
    count = max(1, partitions or settings.REANALYSIS_PARTITIONS)
    job = ReanalysisJob.objects.create(
        rule_set_version=version, date_from=date_from, date_to=date_to, partitions=count,
        total=calls_in_range(date_from, date_to).count(), created_by=user_or_none(user),
    )  # fmt: skip
    ReanalysisPartition.objects.bulk_create(
        ReanalysisPartition(job=job, index=i) for i in range(count)
    )
    audit_record(user=user, action="reanalysis.start", object_type="reanalysis_job",
                 object_id=job.id, details={"version": version.number, "from": str(date_from),
                                            "to": str(date_to), "calls": job.total})  # fmt: skip
    transaction.on_commit(lambda: queue_reanalysis(job.id))
    return job


def queue_reanalysis(job_id: int) -> None:
    """Queue a task for every unfinished share of the job."""
    from analytics.tasks import reanalysis_run

    for index in ReanalysisPartition.objects.filter(job_id=job_id, finished=False).values_list(
        "index", flat=True
    ):
        reanalysis_run.delay(job_id, index)


def reanalysis_run(
    *, job_id: int, partition: int = 0, batch_size: int = BATCH_SIZE,
    seconds: float | None = TASK_SECONDS,
) -> tuple[ReanalysisJob, bool]:  # fmt: skip
    """Work on one share of a job for up to `seconds` (None: until done).

    Returns (job, more_to_do_in_this_share).
    """
    claimed = ReanalysisJob.objects.filter(
        id=job_id, status__in=[ReanalysisJob.Status.QUEUED, ReanalysisJob.Status.RUNNING]
    ).update(status=ReanalysisJob.Status.RUNNING, heartbeat_at=timezone.now())
    job = ReanalysisJob.objects.select_related("rule_set_version__rule_set").get(id=job_id)
    part = ReanalysisPartition.objects.filter(job_id=job_id, index=partition).first()
    if not claimed or part is None or part.finished:
        return job, False
    if job.started_at is None:
        ReanalysisJob.objects.filter(id=job_id, started_at=None).update(started_at=timezone.now())
    try:
        compiled = compiled_version(job.rule_set_version)
    except Exception as exc:
        _finish(job_id, ReanalysisJob.Status.FAILED, msg("规则方案无法编译：{error}", error=exc))
        return ReanalysisJob.objects.get(id=job_id), False
    deadline = None if seconds is None else time.monotonic() + seconds
    calls = calls_in_range(job.date_from, job.date_to)
    if job.partitions > 1:
        calls = calls.annotate(share=Mod("id", job.partitions)).filter(share=partition)
    more = True
    while deadline is None or time.monotonic() < deadline:
        status = ReanalysisJob.objects.filter(id=job_id).values_list("status", flat=True).get()
        if status != ReanalysisJob.Status.RUNNING:
            more = False  # cancelled meanwhile
            break
        cursor = ReanalysisPartition.objects.filter(id=part.id).values_list(
            "last_recording_id", flat=True).get()  # fmt: skip
        ids = list(calls.filter(id__gt=cursor).order_by("id")
                   .values_list("id", flat=True)[:batch_size])  # fmt: skip
        if not ids:
            _finish_partition(job_id, part.id)
            more = False
            break
        _run_batch(job_id, part.id, ids, compiled)
        _refresh_progress(job_id)
    return ReanalysisJob.objects.get(id=job_id), more


def _run_batch(job_id: int, partition_id: int, ids: list[int], compiled: Any) -> None:
    failed = 0
    try:
        analyses = analyze(load_calls(ids), compiled, load_features(ids))
    except Exception:
        # One call breaking the engine as a whole must not stop the job: go one by one.
        logger.exception("re-analysis batch failed; retrying its calls one at a time")
        analyses = []
        for recording_id in ids:
            try:
                analyses.extend(analyze(load_calls([recording_id]), compiled,
                                        load_features([recording_id])))
            except Exception:
                logger.exception("re-analysis of recording %s failed", recording_id)
                failed += 1
    with transaction.atomic():
        part = ReanalysisPartition.objects.select_for_update().get(id=partition_id)
        if part.finished or part.last_recording_id >= ids[-1]:
            return  # another worker already did this batch (a redelivered task)
        stored = store(analyses, compiled, only_status=Recording.Status.ANALYZED)
        part.done += stored
        part.failed += failed
        part.last_recording_id = ids[-1]
        part.save(update_fields=["done", "failed", "last_recording_id"])


def _refresh_progress(job_id: int) -> None:
    totals = ReanalysisPartition.objects.filter(job_id=job_id).aggregate(
        done=Sum("done"), failed=Sum("failed"))  # fmt: skip
    ReanalysisJob.objects.filter(id=job_id).update(
        done=totals["done"] or 0, failed=totals["failed"] or 0, heartbeat_at=timezone.now())


def _finish_partition(job_id: int, partition_id: int) -> None:
    with transaction.atomic():
        job = ReanalysisJob.objects.select_for_update().get(id=job_id)
        ReanalysisPartition.objects.filter(id=partition_id).update(finished=True)
        _refresh_progress(job_id)
        unfinished = ReanalysisPartition.objects.filter(job_id=job_id, finished=False).exists()
        if not unfinished and job.status == ReanalysisJob.Status.RUNNING:
            _finish(job_id, ReanalysisJob.Status.DONE)


def _finish(job_id: int, status: str, error: str = "") -> None:
    ReanalysisJob.objects.filter(id=job_id).update(status=status, error=error,
                                                   finished_at=timezone.now())  # fmt: skip


def reanalysis_cancel(*, job: ReanalysisJob, user: User | None) -> None:
    updated = ReanalysisJob.objects.filter(
        id=job.id, status__in=[ReanalysisJob.Status.QUEUED, ReanalysisJob.Status.RUNNING]
    ).update(
        status=ReanalysisJob.Status.CANCELLED, finished_at=timezone.now(), error=msg("已手动取消")
    )
    if updated:
        audit_record(user=user, action="reanalysis.cancel", object_type="reanalysis_job",
                     object_id=job.id)  # fmt: skip


def reanalysis_resume_stale() -> int:
    """Re-queue running jobs whose worker stopped making progress (beat)."""
    cutoff = timezone.now() - STALE_AFTER
    stale = list(ReanalysisJob.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff),
        status__in=[ReanalysisJob.Status.QUEUED, ReanalysisJob.Status.RUNNING],
    ).values_list("id", flat=True))  # fmt: skip
    for job_id in stale:
        queue_reanalysis(job_id)
    return len(stale)

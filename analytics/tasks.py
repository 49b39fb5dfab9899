"""Celery tasks: take ids, call one service."""

from __future__ import annotations

from celery import shared_task

from analytics.services import analysis, queue, reanalysis


@shared_task(name="analytics.tasks.call_analyze")
def call_analyze(recording_id: int) -> None:
    analysis.call_analyze(recording_id=recording_id)


@shared_task(name="analytics.tasks.reanalysis_run", acks_late=True)
def reanalysis_run(job_id: int, partition: int = 0) -> None:
    # A bounded slice of one share of the job; the rest is queued again so one job never holds
    # a worker. In-process (eager) mode runs the whole share here.
    from django.conf import settings

    eager = getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    _, more = reanalysis.reanalysis_run(job_id=job_id, partition=partition,
                                        seconds=None if eager else reanalysis.TASK_SECONDS)
    if more:
        reanalysis_run.delay(job_id, partition)


@shared_task(name="analytics.tasks.review_sample_recent")
def review_sample_recent() -> None:
    queue.review_sample_recent()


@shared_task(name="analytics.tasks.reanalysis_resume_stale")
def reanalysis_resume_stale() -> None:
    reanalysis.reanalysis_resume_stale()

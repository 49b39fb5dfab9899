"""Celery tasks: take ids, call one service."""

from __future__ import annotations

from celery import shared_task

from analytics.services import analysis


@shared_task(name="analytics.tasks.call_analyze")
def call_analyze(recording_id: int) -> None:
    analysis.call_analyze(recording_id=recording_id)

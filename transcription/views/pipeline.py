"""The pipeline status page and its retry buttons."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from qa_platform.audit import audit_record
from qa_platform.i18n import localized
from qa_platform.queues import queue_depths
from qa_platform.roles import Role, user_role
from transcription import selectors
from transcription.models import Recording, RecordingSource
from transcription.services.recordings import recording_retry
from transcription.services.sources import source_file_retry

logger = logging.getLogger(__name__)


@require_GET
def pipeline_status(request: HttpRequest) -> HttpResponse:
    role = user_role(request.user)
    if role not in selectors.PIPELINE_ROLES:
        raise PermissionDenied
    context = selectors.pipeline_overview(user=request.user)
    # Re-analysis of past calls runs through the analysis stage: its jobs show here too.
    from analytics.selectors import reanalysis_jobs

    context["reanalysis_jobs"] = reanalysis_jobs(limit=5)
    context["in_process"] = settings.CELERY_TASK_ALWAYS_EAGER
    try:
        context["queue_depths"] = queue_depths()
    except Exception as exc:  # the page still shows everything else
        logger.warning("queue depths unavailable: %s", exc)
        context["queue_error"] = True
    context["can_retry"] = role in selectors.RETRY_ROLES
    context["is_admin"] = role is Role.ADMIN
    return render(request, "transcription/pipeline.html", context)


@require_POST
def recording_retry_view(request: HttpRequest, recording_id: int) -> HttpResponse:
    if user_role(request.user) not in selectors.RETRY_ROLES:
        raise PermissionDenied
    try:
        recording = selectors.recording_get_visible(user=request.user, recording_id=recording_id)
    except Recording.DoesNotExist:
        raise Http404 from None
    queued = recording_retry(recording_id=recording.id)
    audit_record(
        user=request.user,
        action="recording.retry",
        object_type="recording",
        object_id=recording.id,
        details={"queued": queued},
    )
    if queued:
        messages.success(request, _("已重新排队：%(name)s") % {"name": recording})
    else:
        recording.refresh_from_db()
        messages.warning(
            request,
            _("未能重试 %(name)s：%(reason)s")
            % {"name": recording, "reason": localized(recording.error) or recording.status},
        )
    return redirect("transcription:pipeline")


@require_POST
def source_file_retry_view(request: HttpRequest, file_id: int) -> HttpResponse:
    if user_role(request.user) is not Role.ADMIN:
        raise PermissionDenied
    if source_file_retry(source_file_id=file_id):
        audit_record(
            user=request.user,
            action="source_file.retry",
            object_type="source_file",
            object_id=file_id,
        )
        messages.success(request, _("下次拉取时将重新拉取该文件"))
    return redirect("transcription:pipeline")


@require_POST
def source_pull_now(request: HttpRequest, source_id: int) -> HttpResponse:
    if user_role(request.user) is not Role.ADMIN:
        raise PermissionDenied
    from transcription.tasks import source_pull

    source = RecordingSource.objects.filter(id=source_id).first()
    if source is None:
        raise Http404
    audit_record(user=request.user, action="source.pull", object_type="source", object_id=source.id)
    source_pull.delay(source.id)
    messages.success(request, _("已提交拉取：%(name)s") % {"name": source.name})
    return redirect("transcription:pipeline")

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from transcription.selectors import user_may_upload
from transcription.services.uploads import (
    SIDECAR_MAX_BYTES,
    UploadLimitHandler,
    recordings_upload,
)
from transcription.storage import AUDIO_EXTENSIONS

AUDIO_ACCEPT = ",".join(["audio/*", *sorted(AUDIO_EXTENSIONS)])


# The CSRF check moves into _upload: it reads the body, and the size limit must be installed
# before anything does.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if not user_may_upload(user=request.user):
        raise PermissionDenied
    limit = UploadLimitHandler(
        request, limits={"files": settings.UPLOAD_MAX_BYTES, "sidecars": SIDECAR_MAX_BYTES}
    )
    request.upload_handlers.insert(0, limit)
    return _upload(request, limit)


@csrf_protect
def _upload(request: HttpRequest, limit: UploadLimitHandler) -> HttpResponse:
    results, error = None, ""
    if request.method == "POST":
        files = request.FILES.getlist("files")
        refused = limit.refused.get("files", [])
        if files or refused:
            results = recordings_upload(
                files=files,
                sidecars=request.FILES.getlist("sidecars"),
                user=request.user,
                refused=refused,
                refused_sidecars=limit.refused.get("sidecars", []),
            )
        else:
            error = _("请选择要上传的录音文件。")
    return render(request, "transcription/upload.html", {
        "results": results,
        "error": error,
        "accept": AUDIO_ACCEPT,
        "extensions": " ".join(sorted(AUDIO_EXTENSIONS)),
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "sidecar_max_bytes": SIDECAR_MAX_BYTES,
    })

"""Recording sources, configured by admins."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from qa_platform.audit import audit_record
from qa_platform.roles import Role, user_role
from transcription.models import RecordingSource


class SourceForm(forms.ModelForm):
    class Meta:
        model = RecordingSource
        fields = ("name", "kind", "enabled", "schedule", "host", "port", "username",
                  "password_ref", "private_key_ref", "host_key_fingerprint", "remote_dir",
                  "recursive", "include_globs", "max_transfers", "stable_seconds",
                  "agent_channel", "filename_pattern", "metadata_format", "metadata_fields",
                  "after_download", "processed_dir")
        widgets = {"filename_pattern": forms.TextInput(attrs={"size": 60})}


def _require_admin(request: HttpRequest) -> None:
    if user_role(request.user) is not Role.ADMIN:
        raise PermissionDenied


@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    return render(request, "transcription/source_list.html",
                  {"sources": RecordingSource.objects.order_by("name")})


@require_http_methods(["GET", "POST"])
def source_edit(request: HttpRequest, source_id: int | None = None) -> HttpResponse:
    _require_admin(request)
    source = get_object_or_404(RecordingSource, id=source_id) if source_id else None
    form = SourceForm(request.POST or None, instance=source)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        # Field names only: the values may be secret references.
        audit_record(user=request.user, action="source.change", object_type="source",
                     object_id=saved.id, details={"changed": sorted(form.changed_data)})
        messages.success(request, _("已保存录音来源：%(name)s") % {"name": saved.name})
        return redirect("transcription:sources")
    return render(request, "transcription/source_form.html", {"form": form, "source": source})

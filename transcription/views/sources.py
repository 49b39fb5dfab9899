"""Recording sources, configured by admins."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from qa_platform.audit import audit_record
from qa_platform.roles import Role, user_role
from transcription.models import Hotword, RecordingSource
from transcription.services.hotwords import recordings_retranscribe


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


class RetranscribeForm(forms.Form):
    since = forms.DateField(label=gettext_lazy("起始日期"),
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("结束日期"),
                            widget=forms.DateInput(attrs={"type": "date"}))
    source = forms.ModelChoiceField(RecordingSource.objects.order_by("name"), required=False,
                                    label=gettext_lazy("来源"),
                                    empty_label=gettext_lazy("全部来源"))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError(gettext_lazy("结束日期早于起始日期"))
        return data


@require_http_methods(["GET", "POST"])
def hotwords_retranscribe(request: HttpRequest) -> HttpResponse:
    """After the hotword lists change, transcribe a date range of calls again."""
    _require_admin(request)
    form = RetranscribeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        source = form.cleaned_data["source"]
        queued = recordings_retranscribe(since=form.cleaned_data["since"],
                                         until=form.cleaned_data["until"],
                                         source_id=source.id if source else None)
        audit_record(user=request.user, action="recordings.retranscribe", details={
            "since": str(form.cleaned_data["since"]), "until": str(form.cleaned_data["until"]),
            "source": source.id if source else None, "queued": queued})
        messages.success(request, _("已重新排队转写 %(n)d 通通话") % {"n": queued})
        return redirect("transcription:pipeline")
    counts = Hotword.objects.values("source__name").annotate(n=Count("id")).order_by("source__name")
    return render(request, "transcription/hotwords.html", {"form": form, "counts": counts})

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from transcription.models import IngestRun, Recording, RecordingSource, Segment, Transcript
from transcription.secrets import is_valid_reference
from transcription.services.recordings import recording_retry


@admin.register(RecordingSource)
class RecordingSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "host", "port", "remote_dir", "enabled", "last_pulled_at", "last_error")
    list_filter = ("enabled",)
    readonly_fields = ("last_pulled_at", "last_error", "last_error_at")
    actions = ("pull_now",)

    def save_model(self, request: HttpRequest, obj: RecordingSource, form: object,
                   change: bool) -> None:
        for field in ("password_ref", "private_key_ref"):
            if not is_valid_reference(getattr(obj, field)):
                messages.warning(request, _("%(field)s 应为 env:变量名 或 file:/路径")
                                 % {"field": field})
        super().save_model(request, obj, form, change)

    @admin.action(description=_("立即拉取"))
    def pull_now(self, request: HttpRequest, queryset: QuerySet[RecordingSource]) -> None:
        from transcription.tasks import source_pull

        for source in queryset:
            source_pull.delay(source.id)
        messages.info(request, _("已提交拉取任务"))


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("__str__", "source", "agent", "started_at", "status", "failed_stage", "error")
    list_filter = ("status", "failed_stage", "source")
    search_fields = ("call_id", "original_name", "sha256", "remote_path")
    readonly_fields = [f.name for f in Recording._meta.fields]
    actions = ("retry",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("重试失败的录音"))
    def retry(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        retried = sum(recording_retry(recording_id=r.id) for r in queryset)
        messages.info(request, _("已重试 %(n)d 条录音") % {"n": retried})


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin):
    list_display = ("source", "status", "started_at", "listed", "new", "downloaded", "skipped",
                    "failed", "bytes")
    list_filter = ("status", "source")
    readonly_fields = [f.name for f in IngestRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class SegmentInline(admin.TabularInline):
    model = Segment
    fields = ("index", "role", "start_ms", "end_ms", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    list_display = ("recording", "engine", "model_version", "created_at")
    list_filter = ("engine",)
    readonly_fields = ("recording", "engine", "model_version", "language", "timings")
    inlines = (SegmentInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

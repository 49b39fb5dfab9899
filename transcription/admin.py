from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from qa_platform.audit import audit_record
from qa_platform.i18n import localized
from transcription.models import (
    Hotword,
    IngestRun,
    Recording,
    RecordingSource,
    Segment,
    SourceFile,
    Tombstone,
    Transcript,
)
from transcription.services.recordings import recording_retry
from transcription.services.sources import source_file_retry


@admin.register(RecordingSource)
class RecordingSourceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "host",
        "port",
        "remote_dir",
        "schedule",
        "enabled",
        "last_pulled_at",
        "last_error_shown",
    )
    list_filter = ("enabled", "kind")
    readonly_fields = ("last_pulled_at", "last_error", "last_error_at")
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled", "schedule")}),
        (
            _("连接"),
            {
                "fields": (
                    "host",
                    "port",
                    "username",
                    "password_ref",
                    "private_key_ref",
                    "host_key_fingerprint",
                    "remote_dir",
                    "recursive",
                    "include_globs",
                    "max_transfers",
                    "stable_seconds",
                )
            },
        ),
        (
            _("通话信息"),
            {"fields": ("agent_channel", "filename_pattern", "metadata_format", "metadata_fields")},
        ),
        (_("下载后"), {"fields": ("after_download", "processed_dir")}),
        (_("状态"), {"fields": ("last_pulled_at", "last_error", "last_error_at")}),
    )
    actions = ("pull_now",)

    @admin.display(description=_("最近错误"), ordering="last_error")
    def last_error_shown(self, source: RecordingSource) -> str:
        return localized(source.last_error)

    @admin.action(description=_("立即拉取"))
    def pull_now(self, request: HttpRequest, queryset: QuerySet[RecordingSource]) -> None:
        from transcription.tasks import source_pull

        for source in queryset:
            source_pull.delay(source.id)
        messages.info(request, _("已提交拉取任务"))


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "source",
        "agent",
        "started_at",
        "status",
        "failed_stage",
        "error_shown",
    )
    list_filter = ("status", "failed_stage", "source")
    search_fields = ("call_id", "original_name", "sha256", "remote_path")
    readonly_fields = [f.name for f in Recording._meta.fields]
    actions = ("retry",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("失败原因"), ordering="error")
    def error_shown(self, recording: Recording) -> str:
        return localized(recording.error)

    @admin.action(description=_("重试失败或已拒收的录音"))
    def retry(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        retried = sum(recording_retry(recording_id=r.id) for r in queryset)
        messages.info(request, _("已重试 %(n)d 条录音") % {"n": retried})


@admin.register(SourceFile)
class SourceFileAdmin(admin.ModelAdmin):
    list_display = ("path", "source", "status", "size", "attempts", "error_shown", "updated_at")
    list_filter = ("status", "source")
    search_fields = ("path", "sha256")
    readonly_fields = (
        "source",
        "path",
        "size",
        "mtime",
        "stable_since",
        "status",
        "sha256",
        "recording",
        "attempts",
        "error",
        "first_seen_at",
    )
    exclude = ("path_key", "raw_path")
    actions = ("retry",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("原因"), ordering="error")
    def error_shown(self, source_file: SourceFile) -> str:
        return localized(source_file.error)

    @admin.action(description=_("下次拉取时重新拉取"))
    def retry(self, request: HttpRequest, queryset: QuerySet[SourceFile]) -> None:
        retried = sum(source_file_retry(source_file_id=f.id) for f in queryset)
        messages.info(request, _("已重置 %(n)d 个文件") % {"n": retried})


@admin.register(Tombstone)
class TombstoneAdmin(admin.ModelAdmin):
    list_display = ("sha256", "source", "remote_path", "reason", "created_at")
    readonly_fields = ("sha256", "source", "remote_path", "reason", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin):
    list_display = (
        "source",
        "status",
        "started_at",
        "duration_s",
        "listed",
        "new",
        "waiting",
        "downloaded",
        "skipped",
        "failed",
        "bytes",
    )
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

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        # The admin shows the whole transcript: audited like the call page.
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            transcript = self.get_object(request, object_id)
            if transcript is not None:
                audit_record(
                    user=request.user,
                    action="transcript.view",
                    object_type="recording",
                    object_id=transcript.recording_id,
                    details={"via": "admin"},
                )
        return response


@admin.register(Hotword)
class HotwordAdmin(admin.ModelAdmin):
    list_display = ("word", "source", "updated_at")
    list_filter = (("source", admin.EmptyFieldListFilter), "source")
    search_fields = ("word",)

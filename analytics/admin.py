"""Read-only admin views of rules and their versions.

Rules and scorecards are edited on the rule pages (规则管理), which validate the whole rule set
and create versions; editing rows here would bypass both. Hits and scores hold transcript text
and are read on the call page, where reading is audited.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import ReanalysisJob, RuleSet, RuleSetVersion, RuleVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RuleSet)
class RuleSetAdmin(ReadOnlyAdmin):
    list_display = ("name", "title", "updated_at")


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(ReadOnlyAdmin):
    list_display = ("rule_set", "number", "status", "activated_at", "comment")
    list_filter = ("status",)


@admin.register(RuleVersion)
class RuleVersionAdmin(ReadOnlyAdmin):
    list_display = ("rule", "number", "name", "severity", "created_at", "created_by")
    list_filter = ("severity",)
    search_fields = ("rule__key", "name")


@admin.register(ReanalysisJob)
class ReanalysisJobAdmin(ReadOnlyAdmin):
    list_display = ("rule_set_version", "date_from", "date_to", "status", "done", "total")
    list_filter = ("status",)

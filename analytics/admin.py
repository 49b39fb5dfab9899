from django.contrib import admin

from analytics.models import Hit, Rule


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "severity", "is_active", "updated_at")
    list_filter = ("is_active", "severity", "role")
    search_fields = ("name", "description")


@admin.register(Hit)
class HitAdmin(admin.ModelAdmin):
    list_display = ("recording", "rule", "matched_text", "start_ms", "reason")
    list_filter = ("rule",)
    readonly_fields = ("recording", "rule", "segment", "char_start", "char_end", "start_ms",
                       "end_ms", "matched_text", "reason")

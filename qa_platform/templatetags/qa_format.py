from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()


@register.filter
def clock(milliseconds: int | None) -> str:
    """Milliseconds as m:ss (or h:mm:ss), the way call times are read."""
    if milliseconds is None:
        return "—"
    seconds = int(milliseconds) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


_SENTIMENT = {"negative": _("负面"), "neutral": _("中性"), "positive": _("正面")}
_MANUAL = {"pass": _("合格"), "fail": _("不合格"), "na": _("不适用")}


@register.filter
def item_value(item: dict[str, Any]) -> str:
    """A scorecard item's result in words, by kind (see analytics.rulepack.ItemResult)."""
    value, kind = item.get("value"), item.get("kind")
    if kind == "manual":
        return str(_MANUAL.get(str(value), _("待填写")))
    if isinstance(value, str):
        return str(_SENTIMENT.get(value, value))
    if value is None:
        return str(_("不适用") if kind != "info" else _("未知"))
    if kind == "points":
        return str(_("合格") if value else _("不合格"))
    if kind == "deduction":
        return str(_("出现") if value else _("未出现"))
    return str(_("是") if value else _("否"))

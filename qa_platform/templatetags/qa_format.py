from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from qa_platform.i18n import localized

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


_REVIEW = {"pending": _("待确认"), "confirmed": _("已确认"), "dismissed": _("已驳回"),
           "open": _("待处理"), "accepted": _("已采纳"), "rejected": _("已驳回")}


@register.filter
def history_summary(details: dict[str, Any]) -> str:
    """One line for a call-history entry's details (see analytics.selectors.call_history)."""
    parts: list[str] = []
    if details.get("rule"):
        parts.append(str(_("规则 %(rule)s") % {"rule": details["rule"]}))
    if "to" in details:
        before = _REVIEW.get(str(details.get("from")), details.get("from") or "—")
        parts.append(f"{before} → {_REVIEW.get(str(details['to']), details['to'])}")
    if details.get("status"):
        parts.append(str(_REVIEW.get(str(details["status"]), details["status"])))
    if isinstance(details.get("manual"), dict):
        parts.append("、".join(f"{k}={_MANUAL.get(v, v)}" for k, v in details["manual"].items()))
    if details.get("comment"):
        parts.append(str(_("意见：%(comment)s") % {"comment": details["comment"]}))
    if "version" in details:
        parts.append(str(_("规则方案 v%(n)s") % {"n": details["version"]}))
    if "score" in details:
        parts.append(str(_("得分 %(score)s") % {"score": details["score"]}))
    return "；".join(parts)


@register.filter(name="localized")
def localized_filter(text: object) -> str:
    """Stored text (an error, a reason) in the reader's language; see qa_platform.i18n."""
    return localized(text)

from __future__ import annotations

from django import template

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

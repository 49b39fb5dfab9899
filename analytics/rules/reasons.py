"""Chinese reasons for hits, from a rule's explanation template.

Placeholders: {evidence} — a short quote of the first piece of evidence with its time,
"：「这不归我管」(01:23)", plus "等 N 处" when there are more (empty when there is none);
{name} — the rule's name; {key}; {count} — how many pieces of evidence. An unknown
placeholder is left as written and a malformed template is used as plain text: a typo in a
template must never stop an analysis.
"""

from __future__ import annotations

from collections.abc import Sequence

from analytics.rules.types import Evidence

MAX_QUOTE = 30


def clock(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def evidence_quote(evidence: Sequence[Evidence]) -> str:
    if not evidence:
        return ""
    first = evidence[0]
    quote = first.text or first.note
    if not quote:
        return ""
    if len(quote) > MAX_QUOTE:
        quote = quote[: MAX_QUOTE - 1] + "…"
    shown = f"「{quote}」" if first.text else quote
    more = f"等 {len(evidence)} 处" if len(evidence) > 1 else ""
    return f"：{shown}({clock(first.start_ms)}){more}"


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def format_reason(template: str, *, name: str, key: str, evidence: Sequence[Evidence]) -> str:
    values = _Keep(
        evidence=evidence_quote(evidence), name=name, key=key, count=str(len(evidence))
    )
    if not template:
        return name + values["evidence"]
    try:
        return template.format_map(values)
    except (ValueError, IndexError, KeyError, AttributeError):
        return template.replace("{evidence}", values["evidence"])

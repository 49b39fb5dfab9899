"""Reads for the UI and reports, always scoped to the user."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, QuerySet

from analytics.models import Hit
from qa_platform.scoping import scope_to_user
from transcription.models import Recording

User = AbstractBaseUser | AnonymousUser


def calls_visible(*, user: User) -> QuerySet[Recording]:
    return scope_to_user(Recording.objects.all(), user=user, agent_path="agent")


def calls_to_review(*, user: User) -> QuerySet[Recording]:
    """Analyzed calls with at least one hit, newest first."""
    return (
        calls_visible(user=user)
        .filter(status=Recording.Status.ANALYZED)
        .annotate(hit_count=Count("hits"))
        .filter(hit_count__gt=0)
        .select_related("agent", "agent__team", "transcript")
        .order_by("-started_at", "-id")
    )


def rules_hit_by_call(recording_ids: list[int]) -> dict[int, list[dict[str, object]]]:
    """Per call, the rules it hit with their hit counts, for one page of the queue."""
    rows = (
        Hit.objects.filter(recording_id__in=recording_ids)
        .values("recording_id", "rule__name", "rule__severity")
        .annotate(count=Count("id"))
        .order_by("recording_id", "rule__name")
    )
    result: dict[int, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        result[row["recording_id"]].append(
            {"name": row["rule__name"], "severity": row["rule__severity"], "count": row["count"]}
        )
    return result


def call_detail(*, user: User, recording_id: int) -> Recording:
    """One call the user may see; Recording.DoesNotExist otherwise (shown as 404)."""
    return calls_visible(user=user).select_related("agent", "agent__team", "transcript",
                                                   "source").get(id=recording_id)


def call_segments_with_hits(*, recording: Recording) -> list[dict[str, object]]:
    """Transcript turns split into plain and highlighted parts, for display."""
    if not hasattr(recording, "transcript"):
        return []
    hits_by_segment: dict[int, list[Hit]] = defaultdict(list)
    for hit in Hit.objects.filter(recording=recording).select_related("rule"):
        hits_by_segment[hit.segment_id].append(hit)
    turns = []
    for segment in recording.transcript.segments.order_by("index"):
        turns.append({
            "segment": segment,
            "parts": _split(segment.text, sorted(hits_by_segment.get(segment.id, []),
                                                 key=lambda h: h.char_start)),
        })
    return turns


def _split(text: str, hits: list[Hit]) -> list[dict[str, object]]:
    parts: list[dict[str, object]] = []
    position = 0
    for hit in hits:
        if hit.char_start < position:
            continue  # overlapping matches: the first one is shown
        if hit.char_start > position:
            parts.append({"text": text[position:hit.char_start], "hit": None})
        parts.append({"text": text[hit.char_start:hit.char_end], "hit": hit})
        position = hit.char_end
    if position < len(text):
        parts.append({"text": text[position:], "hit": None})
    return parts

"""Reads for the UI and reports, always scoped to the user."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from analytics.models import CallScore, Hit
from qa_platform.scoping import scope_to_user
from transcription.models import Recording

User = AbstractBaseUser | AnonymousUser


def calls_visible(*, user: User) -> QuerySet[Recording]:
    return scope_to_user(Recording.objects.all(), user=user, agent_path="agent")


def calls_to_review(*, user: User) -> QuerySet[Recording]:
    """Analyzed calls the scorecard flagged, most severe first, then newest."""
    return (
        calls_visible(user=user)
        .filter(status=Recording.Status.ANALYZED, score__flagged=True)
        .select_related("agent", "agent__team", "transcript", "score")
        .order_by("-score__severity_rank", "-started_at", "-id")
    )


def rules_hit_by_call(recording_ids: list[int]) -> dict[int, list[dict[str, object]]]:
    """Per call, the rules it hit (not dismissed by a reviewer), for one page of the queue."""
    rows = (
        Hit.objects.filter(recording_id__in=recording_ids)
        .exclude(review=Hit.Review.DISMISSED)
        .values("recording_id", "rule_version__name", "severity", "occurrences")
        .order_by("recording_id", "rule_version__name")
    )
    result: dict[int, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        result[row["recording_id"]].append({"name": row["rule_version__name"],
                                            "severity": row["severity"],
                                            "count": row["occurrences"]})  # fmt: skip
    return result


def call_detail(*, user: User, recording_id: int) -> Recording:
    """One call the user may see; Recording.DoesNotExist otherwise (shown as 404)."""
    return calls_visible(user=user).select_related("agent", "agent__team", "transcript",
                                                   "source").get(id=recording_id)


def call_hits(*, recording: Recording) -> list[Hit]:
    return list(Hit.objects.filter(recording=recording).select_related("rule_version")
                .order_by("start_ms", "id"))  # fmt: skip


def call_score(*, recording: Recording) -> CallScore | None:
    return (CallScore.objects.select_related("rule_set_version__rule_set")
            .filter(recording=recording).first())  # fmt: skip


def call_segments_with_hits(*, recording: Recording,
                            hits: list[Hit] | None = None) -> list[dict[str, object]]:
    """Transcript turns split into plain and highlighted parts, for display."""
    if not hasattr(recording, "transcript"):
        return []
    spans: dict[int, list[tuple[int, int, Hit]]] = defaultdict(list)
    for hit in hits if hits is not None else call_hits(recording=recording):
        for e in hit.evidence:
            if e.get("segment_id") is not None and e["char_end"] > e["char_start"]:
                spans[e["segment_id"]].append((e["char_start"], e["char_end"], hit))
    turns = []
    for segment in recording.transcript.segments.order_by("index"):
        ordered = sorted(spans.get(segment.id, []), key=lambda span: (span[0], -span[1]))
        turns.append({"segment": segment, "parts": _split(segment.text, ordered)})
    return turns


def _split(text: str, spans: list[tuple[int, int, Hit]]) -> list[dict[str, object]]:
    parts: list[dict[str, object]] = []
    position = 0
    for start, end, hit in spans:
        if start < position:
            continue  # overlapping matches: the first one is shown
        if start > position:
            parts.append({"text": text[position:start], "hit": None})
        parts.append({"text": text[start:end], "hit": hit})
        position = end
    if position < len(text):
        parts.append({"text": text[position:], "hit": None})
    return parts

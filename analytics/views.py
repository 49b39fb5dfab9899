from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics import selectors
from analytics.models import CallScore
from qa_platform.audit import audit_record
from transcription.models import Recording


@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.calls_to_review(user=request.user), 50).get_page(
        request.GET.get("page")
    )
    rules = selectors.rules_hit_by_call([call.id for call in page])
    rows = [{"call": call, "rules": rules.get(call.id, [])} for call in page]
    return render(request, "analytics/review_queue.html", {"page": page, "rows": rows})


@require_GET
def call_detail(request: HttpRequest, recording_id: int) -> HttpResponse:
    try:
        call = selectors.call_detail(user=request.user, recording_id=recording_id)
    except Recording.DoesNotExist:
        # 404, not 403: a call outside the user's scope must not reveal that it exists.
        raise Http404 from None
    hits = selectors.call_hits(recording=call)
    turns = selectors.call_segments_with_hits(recording=call, hits=hits)
    score = selectors.call_score(recording=call)
    audit_record(user=request.user, action="transcript.view", object_type="recording",
                 object_id=call.id)
    return render(request, "analytics/call_detail.html",
                  {"call": call, "turns": turns, "hits": hits, "score": score,
                   "sections": _sections(score)})  # fmt: skip


def _sections(score: CallScore | None) -> list[dict[str, object]]:
    """Scorecard items grouped by section, in the scorecard's order."""
    if score is None:
        return []
    sections: dict[str, list[dict[str, object]]] = {}
    for item in score.items:
        sections.setdefault(str(item["section"]), []).append(item)
    return [{"title": title, "items": items} for title, items in sections.items()]

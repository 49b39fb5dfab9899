from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from analytics import selectors
from analytics.audio import audio_response
from analytics.models import CallScore, Hit
from analytics.services import reviews
from qa_platform.audit import audit_record
from qa_platform.roles import Role, user_role
from transcription.models import Recording
from transcription.storage import absolute_path


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
                   "sections": _sections(score),
                   "can_review": user_role(request.user) in REVIEW_ROLES})  # fmt: skip


def _sections(score: CallScore | None) -> list[dict[str, object]]:
    """Scorecard items grouped by section, in the scorecard's order."""
    if score is None:
        return []
    sections: dict[str, list[dict[str, object]]] = {}
    for item in score.items:
        sections.setdefault(str(item["section"]), []).append(item)
    return [{"title": title, "items": items} for title, items in sections.items()]


REVIEW_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})


def _reviewable_call(request: HttpRequest, recording_id: int) -> Recording:
    if user_role(request.user) not in REVIEW_ROLES:
        raise PermissionDenied
    try:
        return selectors.call_detail(user=request.user, recording_id=recording_id)
    except Recording.DoesNotExist:
        raise Http404 from None


@require_POST
def hit_review_view(request: HttpRequest, recording_id: int, hit_id: int) -> HttpResponse:
    call = _reviewable_call(request, recording_id)
    hit = get_object_or_404(Hit, id=hit_id, recording=call)
    try:
        reviews.hit_review(hit=hit, decision=request.POST.get("decision", ""),
                           comment=request.POST.get("comment", ""), user=request.user)
    except reviews.ReviewError as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('analytics:call_detail', args=[call.id])}#hit-{hit.id}")


@require_POST
def manual_items_view(request: HttpRequest, recording_id: int) -> HttpResponse:
    call = _reviewable_call(request, recording_id)
    score = selectors.call_score(recording=call)
    if score is None:
        raise Http404
    answers = {key.removeprefix("manual-"): request.POST.get(key, "")
               for key in request.POST if key.startswith("manual-")}  # fmt: skip
    try:
        reviews.manual_items_set(score=score, answers=answers, user=request.user)
        if request.POST.get("finalize"):
            reviews.score_finalize(score=score, user=request.user)
            messages.success(request, _("已定稿"))
    except reviews.ReviewError as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('analytics:call_detail', args=[call.id])}#scorecard")


@require_GET
def call_audio(request: HttpRequest, recording_id: int) -> HttpResponse | StreamingHttpResponse:
    """The recording, for the call page's player. Starting playback is audited; the range
    requests a player makes while seeking are not (they are the same listening)."""
    try:
        call = selectors.call_detail(user=request.user, recording_id=recording_id)
    except Recording.DoesNotExist:
        raise Http404 from None
    try:
        path = absolute_path(call.audio_file)
    except ValueError:
        raise Http404 from None
    if not call.audio_file or not path.is_file():
        return HttpResponse(_("录音文件已按保留期限删除或不存在"), status=410,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    range_header = request.headers.get("Range", "")
    if not range_header or range_header.strip() in ("bytes=0-", "bytes=0-1"):
        audit_record(user=request.user, action="audio.play", object_type="recording",
                     object_id=call.id)  # fmt: skip
    return audio_response(request, path)

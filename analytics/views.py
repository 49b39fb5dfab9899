from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from analytics import selectors
from analytics.audio import audio_response, playable_path
from analytics.models import CallScore, Hit
from analytics.rulepack import UNSECTIONED
from analytics.services import queue, reviews
from qa_platform.audit import audit_record
from qa_platform.i18n import localized
from qa_platform.roles import Role, user_role
from transcription.asr.base import TranscriptionError
from transcription.models import Recording
from transcription.storage import absolute_path


class QueueFilterForm(forms.Form):
    team = forms.IntegerField(required=False, label=gettext_lazy("班组"))
    agent = forms.IntegerField(required=False, label=gettext_lazy("坐席"))
    date_from = forms.DateField(required=False, label=gettext_lazy("开始日期"))
    date_to = forms.DateField(required=False, label=gettext_lazy("结束日期"))
    rule = forms.IntegerField(required=False, label=gettext_lazy("规则"))
    score_min = forms.IntegerField(required=False, min_value=0, max_value=100,
                                   label=gettext_lazy("最低分"))  # fmt: skip
    score_max = forms.IntegerField(required=False, min_value=0, max_value=100,
                                   label=gettext_lazy("最高分"))  # fmt: skip
    sentiment = forms.ChoiceField(required=False, label=gettext_lazy("客户结束情绪"), choices=[
        ("", "—"), ("negative", gettext_lazy("负面")), ("neutral", gettext_lazy("中性")),
        ("positive", gettext_lazy("正面"))])  # fmt: skip
    review_status = forms.ChoiceField(required=False, label=gettext_lazy("复核状态"),
                                      choices=[("", "—"), *CallScore.ReviewStatus.choices])
    assigned = forms.ChoiceField(required=False, label=gettext_lazy("分配"), choices=[
        ("", gettext_lazy("全部")), ("me", gettext_lazy("分配给我")),
        ("none", gettext_lazy("未分配"))])
    kind = forms.ChoiceField(required=False, label=gettext_lazy("类型"), choices=[
        ("", gettext_lazy("全部")), ("flagged", gettext_lazy("规则标记")),
        ("sampled", gettext_lazy("抽检"))])


def _queue_filters(
    request: HttpRequest, choices: dict[str, Any]
) -> tuple[selectors.QueueFilters, dict[str, Any], list[str]]:
    """Filters from the query string; invalid values are dropped and named in a notice."""
    form = QueueFilterForm(request.GET)
    form.is_valid()
    data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    ignored = [str(form.fields[name].label) for name in form.errors]
    allowed = {"team": {t.id for t in choices["teams"]}, "agent": {a.id for a in choices["agents"]},
               "rule": {rv.rule_id for rv in choices["rules"]}}  # fmt: skip
    for name, ids in allowed.items():
        if name in data and data[name] not in ids:
            ignored.append(str(form.fields[name].label))
            del data[name]
    filters = selectors.QueueFilters(
        team_id=data.get("team"), agent_id=data.get("agent"), date_from=data.get("date_from"),
        date_to=data.get("date_to"), rule_id=data.get("rule"), score_min=data.get("score_min"),
        score_max=data.get("score_max"), sentiment=data.get("sentiment"),
        review_status=data.get("review_status"), assigned=data.get("assigned"),
        sampled={"sampled": True, "flagged": False}.get(data.get("kind", "")),
    )  # fmt: skip
    return filters, data, ignored


@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    if user_role(request.user) is Role.AGENT:
        return redirect("analytics:my_calls")  # agents read their own scores, not the queue
    choices = selectors.queue_choices(user=request.user)
    filters, values, ignored = _queue_filters(request, choices)
    page = Paginator(selectors.calls_to_review(user=request.user, filters=filters), 50).get_page(
        request.GET.get("page")
    )
    rules = selectors.rules_hit_by_call([call.id for call in page])
    rows = [{"call": call, "rules": rules.get(call.id, [])} for call in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "analytics/review_queue.html", {
        "page": page, "rows": rows, "choices": choices, "values": values, "ignored": ignored,
        "query": query.urlencode(), "can_assign": user_role(request.user) in REVIEW_ROLES,
    })  # fmt: skip


@require_POST
def queue_assign(request: HttpRequest) -> HttpResponse:
    if user_role(request.user) not in REVIEW_ROLES:
        raise PermissionDenied
    ids = [int(v) for v in request.POST.getlist("call") if v.isdigit()]
    reviewer = request.POST.get("reviewer", "")
    try:
        count = queue.calls_assign(recording_ids=ids, user=request.user,
                                   reviewer_id=int(reviewer) if reviewer.isdigit() else None)
    except queue.QueueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("已更新 %(count)s 通通话的复核人") % {"count": count})
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/calls/review/") else "analytics:review_queue")


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
                   "history": selectors.call_history(recording=call),
                   "can_review": user_role(request.user) in REVIEW_ROLES})  # fmt: skip


def _sections(score: CallScore | None) -> list[dict[str, object]]:
    """Scorecard items grouped by section, in the scorecard's order."""
    if score is None:
        return []
    sections: dict[str, list[dict[str, object]]] = {}
    for item in score.items:
        sections.setdefault(str(item["section"]), []).append(item)
    # Section titles are the scorecard author's text, except the one for unsectioned items.
    return [{"title": localized(title) if title == UNSECTIONED else title, "items": items}
            for title, items in sections.items()]  # fmt: skip


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
    try:
        path = playable_path(path, codec=call.codec, sha256=call.sha256)
    except TranscriptionError as exc:
        return HttpResponse(_("录音无法转换为浏览器可播放的格式：%(reason)s")
                            % {"reason": localized(str(exc))}, status=422,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    range_header = request.headers.get("Range", "")
    if not range_header or range_header.strip() in ("bytes=0-", "bytes=0-1"):
        audit_record(user=request.user, action="audio.play", object_type="recording",
                     object_id=call.id)  # fmt: skip
    return audio_response(request, path)

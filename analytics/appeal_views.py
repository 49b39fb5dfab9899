"""Appeal pages: an agent's own calls, the appeal form of one call, and the appeals list."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analytics import selectors
from analytics.models import Appeal, CallScore, Hit
from analytics.services import appeals
from qa_platform.audit import audit_record
from transcription.models import Recording

_STATUSES = [("", gettext_lazy("全部")), *((s.value, s.label) for s in Appeal.Status)]


@require_GET
def my_calls(request: HttpRequest) -> HttpResponse:
    page = Paginator(appeals.my_calls(user=request.user), 50).get_page(request.GET.get("page"))
    by_call = appeals.appeal_status_by_call([call.id for call in page])
    rows = [{"call": call, "deadline": appeals.appeal_deadline(call.score),
             "can_appeal": (call.score.hit_count > 0 or bool(appeals.appealable_items(call.score)))
                           and appeals.appeal_window_open(call.score),
             "window_open": appeals.appeal_window_open(call.score),
             "appeals": [(s, by_call.get(call.id, {}).get(s.value, 0)) for s in Appeal.Status]}
            for call in page]  # fmt: skip
    has_agent = hasattr(request.user, "agent_profile")
    return render(request, "analytics/appeals/my_calls.html",
                  {"page": page, "rows": rows, "has_agent": has_agent,
                   "window_days": settings.APPEAL_WINDOW_DAYS})  # fmt: skip


@require_http_methods(["GET", "POST"])
def call_appeal(request: HttpRequest, recording_id: int) -> HttpResponse:
    """GET: the call's appeals and, for its own agent within the window, the form. POST: appeal."""
    try:
        call = selectors.call_detail(user=request.user, recording_id=recording_id)
    except Recording.DoesNotExist:
        raise Http404 from None  # not 403: a call outside the user's scope stays unknown
    score = selectors.call_score(recording=call)
    if score is None:
        raise Http404
    if request.method == "POST":
        hit, item_key = _target(call, request.POST.get("target", ""))
        try:
            appeals.appeal_create(recording=call, user=request.user, hit=hit, item_key=item_key,
                                  comment=request.POST.get("comment", ""))  # fmt: skip
        except appeals.AppealError as exc:
            messages.error(request, str(exc))
            return _form(request, call, score, comment=request.POST.get("comment", ""),
                         chosen=request.POST.get("target", ""), status=400)  # fmt: skip
        messages.success(request, _("申诉已提交，等待质检主管处理"))
        return redirect(reverse("analytics:call_appeal", args=[call.id]))
    # The hits' reasons quote the transcript: reading them is a transcript view.
    audit_record(user=request.user, action="transcript.view", object_type="recording",
                 object_id=call.id, details={"page": "appeal"})  # fmt: skip
    return _form(request, call, score)


def _target(call: Recording, value: str) -> tuple[Hit | None, str]:
    """ "hit-<id>" or "item-<key>" from the form's radio buttons."""
    kind, _sep, ref = value.partition("-")
    if kind == "hit" and ref.isdigit():
        hit = Hit.objects.filter(id=int(ref), recording=call).first()
        if hit is None:
            raise Http404
        return hit, ""
    if kind == "item" and ref:
        return None, ref
    return None, ""


def _form(request: HttpRequest, call: Recording, score: CallScore, *, comment: str = "",
          chosen: str = "", status: int = 200) -> HttpResponse:  # fmt: skip
    own = call.agent is not None and call.agent.user_id == request.user.pk
    targets = appeals.appeal_targets(score=score) if own else appeals.AppealTargets([], [])
    rows = appeals.appeal_rows(appeals.call_appeals(user=request.user, recording=call),
                               user=request.user)  # fmt: skip
    return render(request, "analytics/appeals/call_appeal.html",
                  {"call": call, "score": score, "own": own,
                   "hit_choices": [{"value": f"hit-{h.id}", "hit": h} for h in targets.hits],
                   "item_choices": [{"value": f"item-{i['key']}", "item": i}
                                    for i in targets.items],
                   "deadline": appeals.appeal_deadline(score),
                   "window_open": appeals.appeal_window_open(score),
                   "window_days": settings.APPEAL_WINDOW_DAYS, "rows": rows,
                   "comment": comment, "chosen": chosen,
                   "comment_max": appeals.COMMENT_MAX}, status=status)  # fmt: skip


@require_GET
def appeal_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in Appeal.Status.values:
        status = ""
    page = Paginator(appeals.appeals_list(user=request.user, status=status), 50).get_page(
        request.GET.get("page")
    )
    counts = appeals.appeal_status_counts(user=request.user)
    filters = [{"value": value, "label": label, "count": counts.get(value, 0),
                "current": value == status} for value, label in _STATUSES]  # fmt: skip
    return render(request, "analytics/appeals/appeal_list.html",
                  {"page": page, "rows": appeals.appeal_rows(page, user=request.user),
                   "filters": filters, "status": status})  # fmt: skip


@require_POST
def appeal_decide(request: HttpRequest, appeal_id: int) -> HttpResponse:
    appeal = appeals.appeals_visible(user=request.user).filter(id=appeal_id).first()
    if appeal is None:
        raise Http404  # another team's appeal is as unknown as its call
    if not appeals.appeal_can_decide(appeal=appeal, user=request.user):
        raise PermissionDenied
    decision = request.POST.get("decision", "")
    if decision not in ("accept", "reject"):
        messages.error(request, _("请选择采纳或驳回"))
    else:
        try:
            decided = appeals.appeal_decide(appeal=appeal, user=request.user,
                                            accept=decision == "accept",
                                            comment=request.POST.get("comment", ""))  # fmt: skip
        except appeals.AppealError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("申诉已处理：%(status)s，得分 %(before)s → %(after)s") % {
                "status": decided.get_status_display(), "before": decided.score_before,
                "after": decided.score_after})  # fmt: skip
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("analytics:appeals")
    return redirect(target)

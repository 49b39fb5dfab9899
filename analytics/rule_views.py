"""Rule management pages (规则管理): rule sets, rules, the scorecard, activation, backtests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analytics import selectors
from analytics.models import ReanalysisJob, Rule, RuleSet, RuleSetVersion
from analytics.services.backtest import MAX_DAYS, rule_backtest
from analytics.services.reanalysis import reanalysis_cancel
from analytics.services.rulesets import (
    RuleSetError,
    parse_rule_text,
    rule_save,
    rule_set_version_activate,
    scorecard_save,
)
from qa_platform.i18n import localized
from qa_platform.roles import Role, user_role

NEW_RULE_TEMPLATE: dict[str, Any] = {
    "key": "new_rule",
    "name": "新规则",
    "severity": "minor",
    "explanation": "命中说明{evidence}",
    "operators": {"1": {"type": "keywords", "role": "agent", "any": ["关键词"]}},
    "condition": "1",
}


def _require(request: HttpRequest, roles: frozenset[Role]) -> Role:
    role = user_role(request.user)
    if role not in roles:
        raise PermissionDenied
    assert role is not None
    return role


def _pretty(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


class RuleForm(forms.Form):
    document = forms.CharField(
        label=gettext_lazy("规则定义（JSON）"),
        widget=forms.Textarea(attrs={"class": "rule-doc", "spellcheck": "false"}),
    )
    comment = forms.CharField(label=gettext_lazy("修改说明"), max_length=500, required=False)


class BacktestForm(forms.Form):
    document = forms.CharField(widget=forms.HiddenInput)
    days = forms.IntegerField(label=gettext_lazy("最近天数"), min_value=1, max_value=MAX_DAYS,
                              initial=30)


class ActivateForm(forms.Form):
    reanalyze = forms.BooleanField(label=gettext_lazy("重新分析历史通话"), required=False)
    date_from = forms.DateField(label=gettext_lazy("开始日期"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    date_to = forms.DateField(label=gettext_lazy("结束日期"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("reanalyze"):
            start, end = data.get("date_from"), data.get("date_to")
            if not start or not end:
                raise forms.ValidationError(gettext_lazy("重新分析需要开始和结束日期"))
            if end < start:
                raise forms.ValidationError(gettext_lazy("结束日期早于开始日期"))
        return data


@require_GET
def rules_overview(request: HttpRequest) -> HttpResponse:
    role = _require(request, selectors.RULE_VIEW_ROLES)
    sets = selectors.rule_sets_overview()
    rule_ids = [rv.rule_id for entry in sets for rv in entry["rule_versions"]]
    stats = selectors.rule_stats(user=request.user, rule_ids=rule_ids)
    for entry in sets:
        entry["rows"] = [{"version": rv, "stats": stats.get(rv.rule_id, {})}
                         for rv in entry["rule_versions"]]  # fmt: skip
    today = timezone.localdate()
    activate_form = ActivateForm(initial={"date_from": today - dt.timedelta(days=30),
                                          "date_to": today})  # fmt: skip
    return render(request, "analytics/rules.html", {
        "sets": sets, "jobs": selectors.reanalysis_jobs(), "activate_form": activate_form,
        "can_edit": role in selectors.RULE_EDIT_ROLES,
    })  # fmt: skip


@require_http_methods(["GET", "POST"])
def rule_detail(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    role = _require(request, selectors.RULE_VIEW_ROLES)
    rule: Rule | None = None
    if rule_id is not None:
        try:
            rule = selectors.rule_detail(rule_id=rule_id)
        except Rule.DoesNotExist:
            raise Http404 from None
    rule_set = rule.rule_set if rule else _editable_rule_set(request)
    current = selectors.rule_current_version(rule=rule) if rule else None
    initial = _pretty(current.document if current else NEW_RULE_TEMPLATE)
    form = RuleForm(request.POST or None, initial={"document": initial})
    errors: list[str] = []
    if request.method == "POST":
        _require(request, selectors.RULE_EDIT_ROLES)
        if form.is_valid():
            try:
                document = parse_rule_text(form.cleaned_data["document"])
                saved = rule_save(rule_set=rule_set, document=document, user=request.user,
                                  comment=form.cleaned_data["comment"],
                                  original_key=rule.key if rule else None)  # fmt: skip
            except RuleSetError as exc:
                errors = [localized(error) for error in exc.errors]
            else:
                text = _("已保存规则「%(name)s」第 %(number)s 版，已加入草稿版本，生效后用于新通话")
                messages.success(request, text % {"name": saved.name, "number": saved.number})
                return redirect("analytics:rule_detail", rule_id=saved.rule_id)
    context: dict[str, Any] = {
        "rule": rule, "rule_set": rule_set, "current": current, "form": form, "errors": errors,
        "can_edit": role in selectors.RULE_EDIT_ROLES,
        "can_backtest": role in selectors.BACKTEST_ROLES,
        "backtest_form": BacktestForm(initial={"document": initial, "days": 30}),
    }  # fmt: skip
    if rule is not None:
        context["versions"] = list(rule.versions.select_related("created_by"))
        context["active"] = selectors.rule_active_version(rule=rule)
        context["stats"] = selectors.rule_stats(user=request.user, rule_ids=[rule.id])[rule.id]
        context["run_errors"] = selectors.rule_recent_errors(user=request.user, rule=rule)
    return render(request, "analytics/rule_detail.html", context)


def _editable_rule_set(request: HttpRequest) -> RuleSet:
    """The rule set a new rule joins: the active one, else the only one."""
    active = RuleSetVersion.objects.filter(status=RuleSetVersion.Status.ACTIVE).first()
    if active is not None:
        return active.rule_set
    rule_set = RuleSet.objects.order_by("name").first()
    if rule_set is None:
        raise Http404
    return rule_set


@require_POST
def rule_backtest_view(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    _require(request, selectors.BACKTEST_ROLES)
    rule_set = get_object_or_404(RuleSet, id=rule_set_id)
    form = BacktestForm(request.POST)
    errors: list[str] = []
    result = None
    document: dict[str, Any] | None = None
    if form.is_valid():
        try:
            document = parse_rule_text(form.cleaned_data["document"])
            result = rule_backtest(rule_set=rule_set, document=document,
                                   days=form.cleaned_data["days"], user=request.user)  # fmt: skip
        except RuleSetError as exc:
            errors = [localized(error) for error in exc.errors]
    else:
        errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
    rule = Rule.objects.filter(rule_set=rule_set, key=(document or {}).get("key")).first()
    return render(request, "analytics/backtest.html", {
        "rule_set": rule_set, "rule": rule, "result": result, "errors": errors, "form": form,
        "document": _pretty(document) if document else form.data.get("document", ""),
    })  # fmt: skip


class ScorecardForm(forms.Form):
    labels = forms.CharField(label=gettext_lazy("质检项（labels，JSON）"),
                             widget=forms.Textarea(attrs={"class": "rule-doc"}))  # fmt: skip
    scorecard = forms.CharField(label=gettext_lazy("评分规则（scorecard，JSON）"),
                                widget=forms.Textarea(attrs={"class": "rule-doc"}))  # fmt: skip
    comment = forms.CharField(label=gettext_lazy("修改说明"), max_length=500, required=False)


@require_http_methods(["GET", "POST"])
def scorecard_edit(request: HttpRequest, rule_set_id: int) -> HttpResponse:
    _require(request, selectors.RULE_VIEW_ROLES)
    rule_set = get_object_or_404(RuleSet, id=rule_set_id)
    latest = rule_set.versions.order_by("-number").first()
    if latest is None:
        raise Http404
    card = latest.scorecard_version
    form = ScorecardForm(request.POST or None, initial={
        "labels": _pretty(card.labels), "scorecard": _pretty(card.document)})
    errors: list[str] = []
    if request.method == "POST":
        _require(request, selectors.RULE_EDIT_ROLES)
        if form.is_valid():
            try:
                labels = json.loads(form.cleaned_data["labels"])
                document = json.loads(form.cleaned_data["scorecard"])
            except json.JSONDecodeError as exc:
                errors = [_("不是有效的 JSON：第 %(line)s 行第 %(col)s 列，%(msg)s")
                          % {"line": exc.lineno, "col": exc.colno, "msg": exc.msg}]  # fmt: skip
            else:
                try:
                    saved = scorecard_save(rule_set=rule_set, labels=labels, document=document,
                                           user=request.user,
                                           comment=form.cleaned_data["comment"])  # fmt: skip
                except RuleSetError as exc:
                    errors = [localized(error) for error in exc.errors]
                else:
                    messages.success(request, _("已保存评分表第 %(number)s 版，已加入草稿版本")
                                     % {"number": saved.number})  # fmt: skip
                    return redirect("analytics:rules")
    return render(request, "analytics/scorecard_edit.html", {
        "rule_set": rule_set, "card": card, "form": form, "errors": errors,
        "can_edit": user_role(request.user) in selectors.RULE_EDIT_ROLES,
    })  # fmt: skip


@require_POST
def version_activate(request: HttpRequest, version_id: int) -> HttpResponse:
    _require(request, selectors.RULE_EDIT_ROLES)
    version = get_object_or_404(RuleSetVersion, id=version_id)
    form = ActivateForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors() or [_("日期无效")]:
            messages.error(request, str(error))
        return redirect("analytics:rules")
    data = form.cleaned_data
    try:
        job = rule_set_version_activate(
            version=version, user=request.user,
            reanalyze_from=data["date_from"] if data["reanalyze"] else None,
            reanalyze_to=data["date_to"] if data["reanalyze"] else None,
        )  # fmt: skip
    except RuleSetError as exc:
        for error in exc.errors:
            messages.error(request, localized(error))
        return redirect("analytics:rules")
    messages.success(request, _("第 %(number)s 版已生效，新通话将按此版本分析")
                     % {"number": version.number})  # fmt: skip
    if job is not None:
        messages.info(request, _("已开始重新分析 %(total)s 通历史通话") % {"total": job.total})
    return redirect("analytics:rules")


@require_GET
def job_progress(request: HttpRequest, job_id: int) -> JsonResponse:
    _require(request, selectors.RULE_VIEW_ROLES)
    job = get_object_or_404(ReanalysisJob, id=job_id)
    return JsonResponse({
        "id": job.id, "status": job.status, "status_display": job.get_status_display(),
        "total": job.total, "done": job.done, "failed": job.failed, "percent": job.percent,
        "error": localized(job.error),
    })  # fmt: skip


@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    _require(request, selectors.RULE_EDIT_ROLES)
    reanalysis_cancel(job=get_object_or_404(ReanalysisJob, id=job_id), user=request.user)
    return redirect("analytics:rules")

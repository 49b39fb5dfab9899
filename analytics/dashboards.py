"""Dashboards (质检看板): overview, team, agent and rule pages, each chart also as CSV.

The views parse the filters, ask `dashboard_selectors` for aggregates and describe each chart
(title, axis, series, in the user's language). The browser draws them with the local Plotly from
JSON embedded by `json_script`; `?format=csv&chart=<name>` downloads one chart's rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from analytics import dashboard_selectors as data
from analytics.dashboard_selectors import Slice
from analytics.models import Rule
from analytics.selectors import RULE_VIEW_ROLES
from qa_platform.audit import audit_record
from qa_platform.models import Agent, Team
from qa_platform.roles import Role, user_role
from qa_platform.scoping import teams_visible

DEFAULT_DAYS = 30
MAX_DAYS = 366
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Chart:
    """One chart: rows from a selector, which column is the x axis and which are series."""

    name: str
    title: str
    kind: str  # bar, line, stack (stacked bars), hbar, hstack (horizontal: x is a category)
    x: tuple[str, str]
    series: list[tuple[str, str, str]]  # row key, label, colour ("" for Plotly's own)
    rows: list[dict[str, Any]]
    extra: list[tuple[str, str]] = field(default_factory=list)  # CSV-only columns
    unit: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (url, label) under the chart
    csv_query: str = ""

    def columns(self) -> list[tuple[str, str]]:
        return [self.x, *[(key, label) for key, label, _colour in self.series], *self.extra]

    def plot(self) -> dict[str, Any]:
        """What dashboards.js draws: plain data, labels already translated."""
        return {
            "kind": self.kind, "unit": self.unit, "xTitle": self.x[1],
            "dates": bool(self.rows) and isinstance(self.rows[0][self.x[0]], dt.date),
            "x": [_plain(row[self.x[0]]) for row in self.rows],
            "series": [{"name": label, "color": colour, "y": [row[key] for row in self.rows]}
                       for key, label, colour in self.series],
        }  # fmt: skip


ChartBuilder = Callable[["Board"], Chart]
COLOURS = {"calls": "#2563eb", "score": "#16a34a", "flagged": "#d97706", "critical": "#dc2626",
           "positive": "#16a34a", "neutral": "#94a3b8", "negative": "#dc2626",
           "pending": "#94a3b8", "confirmed": "#dc2626", "dismissed": "#60a5fa"}  # fmt: skip


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


# -- filters -------------------------------------------------------------------------------------


@dataclass
class Filters:
    where: Slice
    notices: list[str]


def _parse_filters(request: HttpRequest, *, teams: list[Team] | None = None) -> Filters:
    """From `from`, `to` (local dates) and, where offered, `team`; a value that cannot be used
    is left out and a notice says so. Default: the last 30 days."""
    notices: list[str] = []
    today = timezone.localdate()
    dates: dict[str, dt.date | None] = {}
    for name, label in (("from", _("开始日期")), ("to", _("结束日期"))):
        raw = request.GET.get(name, "").strip()
        dates[name] = None
        if raw:
            try:
                dates[name] = dt.date.fromisoformat(raw)
            except ValueError:
                notices.append(_("%(field)s“%(value)s”不是有效日期（应为 YYYY-MM-DD），已忽略。")
                               % {"field": label, "value": raw[:40]})  # fmt: skip
    end = dates["to"] or today
    start = dates["from"] or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        notices.append(_("开始日期晚于结束日期，已忽略日期筛选，显示最近 %(days)s 天。")
                       % {"days": DEFAULT_DAYS})  # fmt: skip
        end, start = today, today - dt.timedelta(days=DEFAULT_DAYS - 1)
    elif (end - start).days >= MAX_DAYS:
        notices.append(_("日期范围最长 %(days)s 天，已从结束日期往前截取。") % {"days": MAX_DAYS})
        start = end - dt.timedelta(days=MAX_DAYS - 1)
    team_id = None
    raw_team = request.GET.get("team", "").strip()
    if raw_team and teams is not None:
        allowed = {str(team.id): team.id for team in teams}
        if raw_team in allowed:
            team_id = allowed[raw_team]
        else:
            notices.append(_("班组“%(value)s”不存在或不在您的查看范围内，已忽略。")
                           % {"value": raw_team[:40]})  # fmt: skip
    return Filters(where=Slice(start=start, end=end, team_id=team_id), notices=notices)


def _query(where: Slice, **more: str) -> str:
    params = {"from": where.start.isoformat(), "to": where.end.isoformat()}
    if where.team_id is not None:
        params["team"] = str(where.team_id)
    return urlencode({**params, **more})


# -- rendering and CSV ---------------------------------------------------------------------------


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return _plain(value)


def _csv(request: HttpRequest, chart: Chart, *, page: str, object_id: str | int,
         where: Slice) -> HttpResponse:  # fmt: skip
    columns = chart.columns()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for _key, label in columns])
    writer.writerows([_cell(row.get(key)) for key, _label in columns] for row in chart.rows)
    audit_record(user=request.user, action="dashboard.export", object_type=f"dashboard.{page}",
                 object_id=object_id,
                 details={"chart": chart.name, "from": where.start.isoformat(),
                          "to": where.end.isoformat(), "team": where.team_id,
                          "rows": len(chart.rows)})  # fmt: skip
    # A byte-order mark, so that Excel reads the file as UTF-8 and shows the Chinese.
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = "-".join(str(part) for part in (page, object_id, chart.name, where.start, where.end)
                    if part != "")  # fmt: skip
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


# -- charts --------------------------------------------------------------------------------------


class Board:
    """One dashboard request: who asks, what it counts; a query several charts share runs once."""

    def __init__(self, request: HttpRequest, where: Slice, rule: Rule | None = None) -> None:
        self.request, self.user, self.where, self.rule = request, request.user, where, rule

    @cached_property
    def daily(self) -> list[dict[str, Any]]:
        return data.daily(user=self.user, where=self.where)

    def link(self, name: str, object_id: int) -> str:
        """Another dashboard for the same dates (and team, but an agent page has no team)."""
        where = self.where
        if name == "analytics:dashboard_agent":
            where = Slice(start=where.start, end=where.end)
        return f"{reverse(name, args=[object_id])}?{_query(where)}"


def _day() -> tuple[str, str]:
    return ("day", _("日期"))


def _review_series() -> list[tuple[str, str, str]]:
    return [("pending", _("待确认"), COLOURS["pending"]),
            ("confirmed", _("已确认"), COLOURS["confirmed"]),
            ("dismissed", _("已驳回"), COLOURS["dismissed"])]  # fmt: skip


def _agent_labels(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        row["label"] = f"{row['code']} {row['name']}".strip()


def calls_per_day(board: Board) -> Chart:
    return Chart("calls_per_day", _("每日通话量"), "bar", _day(),
                 [("calls", _("通话量"), COLOURS["calls"])], board.daily)


def average_score(board: Board) -> Chart:
    return Chart("average_score", _("平均分"), "line", _day(),
                 [("avg_score", _("平均分"), COLOURS["score"])], board.daily,
                 extra=[("calls", _("通话量"))])


def flagged_rate(board: Board) -> Chart:
    return Chart("flagged_rate", _("需复核率"), "line", _day(),
                 [("flagged_rate", _("需复核率（%）"), COLOURS["flagged"])], board.daily,
                 extra=[("flagged", _("需复核通话")), ("calls", _("通话量"))], unit="%")


def critical(board: Board) -> Chart:
    return Chart("critical", _("严重违规通话"), "bar", _day(),
                 [("critical", _("严重违规通话"), COLOURS["critical"])], board.daily,
                 extra=[("critical_rate", _("严重违规率（%）")), ("calls", _("通话量"))])


def sentiment(board: Board) -> Chart:
    return Chart("sentiment", _("客户结束情绪"), "stack", _day(),
                 [("positive_rate", _("正面（%）"), COLOURS["positive"]),
                  ("neutral_rate", _("中性（%）"), COLOURS["neutral"]),
                  ("negative_rate", _("负面（%）"), COLOURS["negative"])], board.daily,
                 extra=[("positive", _("正面")), ("neutral", _("中性")), ("negative", _("负面")),
                        ("calls", _("通话量"))], unit="%")  # fmt: skip


def top_rules(board: Board, *, name: str = "top_rules", title: str = "") -> Chart:
    rows = data.top_rules(user=board.user, where=board.where)
    seen: set[str] = set()
    for row in rows:  # two rule sets may name a rule alike: the key tells them apart
        row["label"] = row["name"] if row["name"] not in seen else f"{row['name']}（{row['key']}）"
        seen.add(row["name"])
    links = []
    if user_role(board.user) in RULE_VIEW_ROLES:
        links = [(board.link("analytics:dashboard_rule", row["rule_id"]), row["label"])
                 for row in rows]  # fmt: skip
    return Chart(name, title or _("命中最多的规则（不含已驳回）"), "hbar", ("label", _("规则")),
                 [("hits", _("命中次数"), COLOURS["critical"])], rows,
                 extra=[("key", _("规则标识")), ("confirmed", _("已确认"))], links=links)


def top_violations(board: Board) -> Chart:
    return top_rules(board, name="top_violations", title=_("主要违规（不含已驳回）"))


def score_distribution(board: Board) -> Chart:
    return Chart("score_distribution", _("得分分布"), "bar", ("bucket", _("得分区间")),
                 [("calls", _("通话量"), COLOURS["calls"])],
                 data.score_distribution(user=board.user, where=board.where))


def score_trend(board: Board) -> Chart:
    chart = average_score(board)
    chart.name, chart.title = "score_trend", _("平均分趋势")
    return chart


def ranking(board: Board) -> Chart:
    rows = data.agent_ranking(user=board.user, where=board.where)
    _agent_labels(rows)
    links = [(board.link("analytics:dashboard_agent", row["agent_id"]),
              f"{row['rank']}. {row['label']}") for row in rows]  # fmt: skip
    return Chart("ranking", _("坐席排名（平均分）"), "hbar", ("label", _("坐席")),
                 [("avg_score", _("平均分"), COLOURS["score"])], rows,
                 extra=[("rank", _("名次")), ("calls", _("通话量")),
                        ("flagged_rate", _("需复核率（%）")), ("critical", _("严重违规通话"))],
                 links=links)  # fmt: skip


def rule_hits(board: Board) -> Chart:
    assert board.rule is not None
    return Chart("hits", _("每日命中"), "stack", _day(), _review_series(),
                 data.rule_daily(user=board.user, where=board.where, rule=board.rule),
                 extra=[("hits", _("命中次数"))])


def rule_precision(board: Board) -> Chart:
    assert board.rule is not None
    return Chart("precision", _("每周准确率（已确认 ÷ 已复核）"), "line", ("week", _("周（周一）")),
                 [("precision", _("准确率（%）"), COLOURS["score"])],
                 data.rule_precision_weekly(user=board.user, where=board.where, rule=board.rule),
                 extra=[("confirmed", _("已确认")), ("dismissed", _("已驳回")),
                        ("pending", _("待确认")), ("hits", _("命中次数"))], unit="%")  # fmt: skip


def rule_top_agents(board: Board) -> Chart:
    assert board.rule is not None
    rows = data.rule_top_agents(user=board.user, where=board.where, rule=board.rule)
    _agent_labels(rows)
    return Chart("top_agents", _("命中最多的坐席（按未驳回命中）"), "hstack", ("label", _("坐席")),
                 _review_series(), rows,
                 extra=[("hits", _("命中次数")), ("precision", _("准确率（%）"))],
                 links=[(board.link("analytics:dashboard_agent", row["agent_id"]),
                         row["label"]) for row in rows])  # fmt: skip


OVERVIEW_CHARTS: dict[str, ChartBuilder] = {
    "calls_per_day": calls_per_day, "average_score": average_score, "flagged_rate": flagged_rate,
    "critical": critical, "sentiment": sentiment, "top_rules": top_rules,
}  # fmt: skip
AGENT_CHARTS: dict[str, ChartBuilder] = {
    "score_distribution": score_distribution, "score_trend": score_trend,
    "top_violations": top_violations,
}  # fmt: skip
TEAM_CHARTS: dict[str, ChartBuilder] = {**AGENT_CHARTS, "ranking": ranking}
RULE_CHARTS: dict[str, ChartBuilder] = {
    "hits": rule_hits, "precision": rule_precision, "top_agents": rule_top_agents,
}  # fmt: skip


# -- views ---------------------------------------------------------------------------------------


def _respond(board: Board, *, page: str, object_id: str | int, notices: list[str],
             charts: dict[str, ChartBuilder], template: str,
             context: Callable[[], dict[str, Any]]) -> HttpResponse:  # fmt: skip
    """The page, or with `?format=csv&chart=<name>` that chart's rows (404 for another name)."""
    request, where = board.request, board.where
    if request.GET.get("format") == "csv":
        build = charts.get(request.GET.get("chart", ""))
        if build is None:
            raise Http404
        return _csv(request, build(board), page=page, object_id=object_id, where=where)
    built = [build(board) for build in charts.values()]
    for chart in built:
        chart.csv_query = _query(where, format="csv", chart=chart.name)
    presets = [(days, _query(Slice(start=where.end - dt.timedelta(days=days - 1), end=where.end,
                                   team_id=where.team_id)))
               for days in (7, 30, 90)]  # fmt: skip
    return render(request, template, {**context(), "charts": built, "notices": notices,
                                      "where": where, "presets": presets})  # fmt: skip


def _chosen(teams: list[Team], where: Slice) -> Team | None:
    return next((team for team in teams if team.id == where.team_id), None)


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user_role(user) is Role.AGENT:
        own = data.own_agent(user=user)
        if own is not None:  # an agent's dashboard is their own agent page
            url = reverse("analytics:dashboard_agent", args=[own.id])
            return redirect(f"{url}?{request.GET.urlencode()}" if request.GET else url)
    teams = list(teams_visible(user=user))
    filters = _parse_filters(request, teams=teams)
    board = Board(request, filters.where)
    return _respond(board, page="overview", object_id="", notices=filters.notices,
                    charts=OVERVIEW_CHARTS, template="analytics/dashboards/overview.html",
                    context=lambda: {"summary": data.summary(user=user, where=board.where),
                                     "teams": teams,
                                     "team": _chosen(teams, board.where)})  # fmt: skip


@require_GET
def team_dashboard(request: HttpRequest, team_id: int) -> HttpResponse:
    try:
        team = data.dashboard_team(user=request.user, team_id=team_id)
    except Team.DoesNotExist:
        raise Http404 from None  # outside the user's scope reads as not there
    filters = _parse_filters(request)
    board = Board(request, replace(filters.where, team_id=team.id))
    return _respond(board, page="team", object_id=team.id, notices=filters.notices,
                    charts=TEAM_CHARTS, template="analytics/dashboards/team.html",
                    context=lambda: {"team": team,
                                     "summary": data.summary(user=request.user,
                                                             where=board.where)})  # fmt: skip


@require_GET
def agent_dashboard(request: HttpRequest, agent_id: int) -> HttpResponse:
    try:
        agent = data.dashboard_agent(user=request.user, agent_id=agent_id)
    except Agent.DoesNotExist:
        raise Http404 from None
    filters = _parse_filters(request)
    board = Board(request, replace(filters.where, agent_id=agent.id))

    def context() -> dict[str, Any]:
        rank = data.agent_rank(user=request.user, where=board.where, agent=agent)
        return {"agent": agent, "rank": rank,
                "team_visible": agent.team_id is not None and teams_visible(
                    user=request.user).filter(id=agent.team_id).exists(),
                "summary": data.summary(user=request.user, where=board.where)}  # fmt: skip

    return _respond(board, page="agent", object_id=agent.id, notices=filters.notices,
                    charts=AGENT_CHARTS, template="analytics/dashboards/agent.html",
                    context=context)


@require_GET
def rule_dashboard(request: HttpRequest, rule_id: int) -> HttpResponse:
    if user_role(request.user) not in RULE_VIEW_ROLES:
        raise PermissionDenied  # like the rule pages themselves
    try:
        rule = data.dashboard_rule(rule_id=rule_id)
    except Rule.DoesNotExist:
        raise Http404 from None
    teams = list(teams_visible(user=request.user))
    filters = _parse_filters(request, teams=teams)
    board = Board(request, filters.where, rule=rule)
    return _respond(board, page="rule", object_id=rule.id, notices=filters.notices,
                    charts=RULE_CHARTS, template="analytics/dashboards/rule.html",
                    context=lambda: {"rule": rule, "teams": teams,
                                     "summary": data.rule_summary(user=request.user,
                                                                  where=board.where, rule=rule),
                                     "team": _chosen(teams, board.where)})  # fmt: skip

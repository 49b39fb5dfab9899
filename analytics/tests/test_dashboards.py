from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics import dashboard_selectors as data
from analytics.dashboard_selectors import Slice
from analytics.dashboards import _cell
from analytics.models import Hit, Rule
from analytics.services.reviews import hit_review
from analytics.tests.packs import REFUND_RULE, analyzed_call, install, refund_pack
from qa_platform.models import Agent, AuditEvent
from transcription.models import Recording

SHANGHAI = ZoneInfo("Asia/Shanghai")
MON, TUE, WED = dt.date(2025, 3, 10), dt.date(2025, 3, 11), dt.date(2025, 3, 12)
PERIOD = Slice(start=MON, end=WED)
DATES = "from=2025-03-10&to=2025-03-12"
XSS_NAME = "<script>alert('x')</script>投诉"

COMPLAINT_RULE: dict[str, Any] = {
    "key": "complaint", "name": XSS_NAME, "severity": "critical",
    "explanation": "客户要投诉{evidence}",
    "operators": {"1": {"type": "keywords", "role": "customer", "any": ["投诉"]}},
}  # fmt: skip


def pack() -> dict[str, Any]:
    """Refund requests cost 10 points and flag the call; a complaint is a critical failure."""
    document = refund_pack(rules=[REFUND_RULE, COMPLAINT_RULE])
    document["labels"]["complaint"] = {"title": "投诉", "rule": "complaint", "true_when": "fired"}
    document["scorecard"]["deductions"]["complaint"] = {"points": 20}
    document["scorecard"]["critical"] = [{"label": "complaint", "when": True}]
    return document


def call_at(sha: str, agent: Agent, day: dt.date, hour: int, minute: int,
            texts: list[tuple[str, str]]) -> Recording:  # fmt: skip
    recording = analyzed_call(sha, agent, texts)
    started = dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)
    Recording.objects.filter(id=recording.id).update(started_at=started)
    return recording


REFUND = [("agent", "您好"), ("customer", "我要退费")]
CLEAN = [("agent", "您好"), ("customer", "好的谢谢")]
COMPLAINT = [("agent", "您好"), ("customer", "我要投诉你们")]


@pytest.fixture
def calls(org: dict[str, Any]) -> dict[str, Recording]:
    """Team 1: A1 scores 90 (Mon) and 100 (Tue, 00:30 local, still Monday in UTC), A3 scores
    90 (Tue). Team 2: A2's complaint on Tuesday is a critical failure (0). Nothing on Wednesday."""
    install(pack())
    org["agent3"] = Agent.objects.create(code="A3", name="李娜", team=org["team1"])
    return {
        "a1_mon": call_at("1", org["agent1"], MON, 10, 0, REFUND),
        "a1_tue": call_at("2", org["agent1"], TUE, 0, 30, CLEAN),
        "a3_tue": call_at("3", org["agent3"], TUE, 9, 0, REFUND),
        "a2_tue": call_at("4", org["agent2"], TUE, 11, 0, COMPLAINT),
    }


def get(client: Client, user: Any, url: str) -> Any:
    client.force_login(user)
    return client.get(url)


# -- selectors -----------------------------------------------------------------------------------


def test_daily_counts_calls_by_local_date_with_empty_days(org: dict, calls: dict) -> None:
    rows = data.daily(user=org["admin"], where=PERIOD)
    assert [(r["day"], r["calls"], r["avg_score"], r["flagged"], r["critical"]) for r in rows] == [
        (MON, 1, 90.0, 1, 0),
        (TUE, 3, 63.3, 2, 1),  # 100, 90 and 0
        (WED, 0, None, 0, 0),
    ]
    assert rows[1]["flagged_rate"] == 66.7 and rows[1]["critical_rate"] == 33.3
    assert rows[2]["flagged_rate"] is None


def test_daily_counts_how_customers_sentiment_ended(org: dict, calls: dict) -> None:
    from analytics.models import CallScore

    ends = list(CallScore.objects.filter(recording__started_at__date=TUE)
                .values_list("customer_sentiment_end", flat=True))  # fmt: skip
    tuesday = data.daily(user=org["admin"], where=PERIOD)[1]
    for label in data.SENTIMENTS:
        assert tuesday[label] == ends.count(label)
    assert sum(tuesday[label] for label in data.SENTIMENTS) == 3


def test_a_supervisor_never_counts_another_teams_calls(org: dict, calls: dict) -> None:
    assert data.summary(user=org["sup1"], where=PERIOD) == {
        "calls": 3, "avg_score": 93.3, "flagged": 2, "critical": 0,
        "flagged_rate": 66.7, "critical_rate": 0.0}  # fmt: skip
    assert data.summary(user=org["sup2"], where=PERIOD)["calls"] == 1
    assert data.summary(user=org["auditor"], where=PERIOD)["calls"] == 4
    assert data.summary(user=org["nobody"], where=PERIOD)["calls"] == 0
    assert [r["calls"] for r in data.daily(user=org["sup1"], where=PERIOD)] == [1, 2, 0]
    team2 = Slice(start=MON, end=WED, team_id=org["team2"].id)
    assert data.summary(user=org["sup1"], where=team2)["calls"] == 0
    assert [r["key"] for r in data.top_rules(user=org["sup1"], where=PERIOD)] == [
        "refund_request"]


def test_the_date_range_is_inclusive_local_days(org: dict, calls: dict) -> None:
    monday = Slice(start=MON, end=MON)
    assert data.summary(user=org["admin"], where=monday)["calls"] == 1, "00:30 Tue is Tuesday"
    assert data.summary(user=org["admin"], where=Slice(start=WED, end=WED))["calls"] == 0


def test_score_distribution_puts_each_call_in_one_bucket(org: dict, calls: dict) -> None:
    rows = data.score_distribution(user=org["admin"], where=PERIOD)
    assert {r["bucket"]: r["calls"] for r in rows} == {
        "<60": 1, "60–69": 0, "70–79": 0, "80–89": 0, "90–99": 2, "100": 1}


def test_top_rules_leave_out_dismissed_hits(org: dict, calls: dict) -> None:
    rows = data.top_rules(user=org["admin"], where=PERIOD)
    assert [(r["key"], r["name"], r["hits"]) for r in rows] == [
        ("refund_request", "退费诉求", 2), ("complaint", XSS_NAME, 1)]
    hit = Hit.objects.get(recording=calls["a3_tue"])
    hit_review(hit=hit, decision=Hit.Review.DISMISSED, comment="", user=org["sup1"])
    rows = data.top_rules(user=org["admin"], where=PERIOD)
    assert [(r["key"], r["hits"]) for r in rows] == [("refund_request", 1), ("complaint", 1)]


def test_agents_are_ranked_by_average_score(org: dict, calls: dict) -> None:
    team1 = Slice(start=MON, end=WED, team_id=org["team1"].id)
    rows = data.agent_ranking(user=org["sup1"], where=team1)
    assert [(r["rank"], r["code"], r["calls"], r["avg_score"]) for r in rows] == [
        (1, "A1", 2, 95.0), (2, "A3", 1, 90.0)]
    assert data.agent_rank(user=org["sup1"], where=PERIOD, agent=org["agent3"]) == (2, 2)
    # An agent sees only their own calls: a rank among them would mean nothing.
    assert data.agent_rank(user=org["agent_user"], where=PERIOD, agent=org["agent1"]) is None


def test_rule_precision_is_confirmed_over_decided_per_week(org: dict, calls: dict) -> None:
    rule = Rule.objects.get(key="refund_request")
    confirm, dismiss = (Hit.objects.get(recording=calls[key], rule=rule)
                        for key in ("a1_mon", "a3_tue"))  # fmt: skip
    hit_review(hit=confirm, decision=Hit.Review.CONFIRMED, comment="", user=org["sup1"])
    weeks = data.rule_precision_weekly(user=org["admin"], where=PERIOD, rule=rule)
    assert [(w["week"], w["hits"], w["precision"]) for w in weeks] == [(MON, 2, 100.0)]
    hit_review(hit=dismiss, decision=Hit.Review.DISMISSED, comment="", user=org["sup1"])
    weeks = data.rule_precision_weekly(user=org["admin"], where=PERIOD, rule=rule)
    assert [(w["confirmed"], w["dismissed"], w["pending"], w["precision"]) for w in weeks] == [
        (1, 1, 0, 50.0)]
    days = data.rule_daily(user=org["admin"], where=PERIOD, rule=rule)
    assert [(d["day"], d["hits"], d["confirmed"], d["dismissed"]) for d in days] == [
        (MON, 1, 1, 0), (TUE, 1, 0, 1), (WED, 0, 0, 0)]
    top = data.rule_top_agents(user=org["admin"], where=PERIOD, rule=rule)
    assert [(a["code"], a["live"], a["hits"]) for a in top] == [("A1", 1, 1), ("A3", 0, 1)]
    assert data.rule_summary(user=org["admin"], where=PERIOD, rule=rule)["precision"] == 50.0


def test_a_week_without_decisions_has_no_precision(org: dict, calls: dict) -> None:
    rule = Rule.objects.get(key="refund_request")
    weeks = data.rule_precision_weekly(user=org["admin"], where=PERIOD, rule=rule)
    assert weeks[0]["precision"] is None and weeks[0]["pending"] == 2


def test_the_number_of_queries_does_not_grow_with_the_calls(client: Client, org: dict,
                                                            calls: dict) -> None:
    client.force_login(org["admin"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/dashboards/?{DATES}").status_code == 200
        return len(captured)

    before = queries()
    for n in range(5, 9):
        call_at(str(n), org["agent2"], WED, 9, n, REFUND)
    assert queries() == before


# -- pages ---------------------------------------------------------------------------------------


def test_the_overview_shows_every_chart_with_a_csv_link(client: Client, org: dict,
                                                        calls: dict) -> None:
    response = get(client, org["sup1"], f"/dashboards/?{DATES}")
    html = response.content.decode()
    assert response.status_code == 200 and "质检看板" in html
    for name in ("calls_per_day", "average_score", "flagged_rate", "critical", "sentiment",
                 "top_rules"):
        assert f'id="plot-{name}" type="application/json"' in html
        assert f"format=csv&amp;chart={name}" in html
    assert html.count("下载 CSV") == 6
    assert "/static/vendor/plotly/plotly.min.js" in html and "/static/qa/dashboards.js" in html
    assert response.context["summary"]["calls"] == 3, "only the supervisor's team"
    assert [t.name for t in response.context["teams"]] == ["一组"]


def test_plotly_is_a_local_static_file() -> None:
    path = finders.find("vendor/plotly/plotly.min.js")
    assert isinstance(path, str)
    assert "plotly" in Path(path).read_text(encoding="utf-8")[:200].lower()


def test_the_dashboard_link_is_in_the_navigation(client: Client, org: dict) -> None:
    html = get(client, org["sup1"], "/calls/review/").content.decode()
    assert 'href="/dashboards/"' in html and "质检看板" in html
    client.logout()
    assert get(client, org["nobody"], "/calls/review/").content.decode().count(
        'href="/dashboards/"') == 0


def test_the_dashboards_need_a_login(client: Client, db: None) -> None:
    response = client.get("/dashboards/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_team_or_agent_outside_the_scope_is_not_found(client: Client, org: dict,
                                                        calls: dict) -> None:
    client.force_login(org["sup1"])
    assert client.get(f"/dashboards/teams/{org['team1'].id}/").status_code == 200
    assert client.get(f"/dashboards/teams/{org['team2'].id}/").status_code == 404
    assert client.get("/dashboards/teams/999999/").status_code == 404
    assert client.get(f"/dashboards/agents/{org['agent1'].id}/").status_code == 200
    assert client.get(f"/dashboards/agents/{org['agent2'].id}/").status_code == 404
    assert client.get("/dashboards/agents/999999/").status_code == 404
    assert client.get("/dashboards/rules/999999/").status_code == 404
    assert client.get(f"/dashboards/teams/{org['team2'].id}/?format=csv&chart=ranking"
                      ).status_code == 404  # fmt: skip


def test_the_team_page_ranks_its_agents(client: Client, org: dict, calls: dict) -> None:
    response = get(client, org["auditor"], f"/dashboards/teams/{org['team1'].id}/?{DATES}")
    html = response.content.decode()
    assert response.context["summary"]["calls"] == 3
    assert "1. A1 王敏" in html and "2. A3 李娜" in html
    assert f'href="/dashboards/agents/{org["agent1"].id}/?{DATES.replace("&", "&amp;")}"' in html
    for name in ("score_distribution", "score_trend", "top_violations", "ranking"):
        assert f'id="plot-{name}"' in html


def test_an_agent_sees_only_their_own_dashboard(client: Client, org: dict, calls: dict) -> None:
    client.force_login(org["agent_user"])
    response = client.get(f"/dashboards/?{DATES}")
    assert response.status_code == 302
    assert response["Location"] == f"/dashboards/agents/{org['agent1'].id}/?{DATES}"
    response = client.get(response["Location"])
    assert response.status_code == 200
    assert response.context["summary"]["calls"] == 2 and response.context["rank"] is None
    assert client.get(f"/dashboards/agents/{org['agent3'].id}/").status_code == 404, "teammate"
    assert client.get(f"/dashboards/teams/{org['team1'].id}/").status_code == 404
    rule = Rule.objects.get(key="refund_request")
    assert client.get(f"/dashboards/rules/{rule.id}/").status_code == 403


def test_a_supervisor_sees_the_agents_rank_in_the_team(client: Client, org: dict,
                                                       calls: dict) -> None:
    response = get(client, org["sup1"], f"/dashboards/agents/{org['agent3'].id}/?{DATES}")
    assert response.context["rank"] == (2, 2)
    assert "班组内排名" in response.content.decode()


def test_invalid_filters_are_ignored_with_a_notice(client: Client, org: dict,
                                                   calls: dict) -> None:
    response = get(client, org["sup1"],
                   f"/dashboards/?from=2025-02-30&to=yesterday&team={org['team2'].id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="filter-notices"' in html
    assert "开始日期“2025-02-30”不是有效日期" in html and "结束日期“yesterday”" in html
    assert "不在您的查看范围内" in html, "another team's id"
    where = response.context["where"]
    assert (where.start, where.end, where.team_id) == (
        timezone.localdate() - dt.timedelta(days=29), timezone.localdate(), None)

    html = get(client, org["sup1"], "/dashboards/?from=2025-03-12&to=2025-03-10&team=x"
               ).content.decode()  # fmt: skip
    assert "开始日期晚于结束日期" in html and "班组“x”" in html
    html = get(client, org["sup1"], "/dashboards/?from=2020-01-01&to=2025-03-12").content.decode()
    assert "日期范围最长 366 天" in html


def test_a_valid_team_filter_narrows_the_overview(client: Client, org: dict,
                                                  calls: dict) -> None:
    response = get(client, org["admin"], f"/dashboards/?{DATES}&team={org['team2'].id}")
    assert response.context["summary"]["calls"] == 1 and not response.context["notices"]
    assert f"team={org['team2'].id}" in response.context["charts"][0].csv_query


def test_a_chart_downloads_as_csv_for_excel_and_is_audited(client: Client, org: dict,
                                                           calls: dict) -> None:
    response = get(client, org["sup1"], f"/dashboards/?{DATES}&format=csv&chart=calls_per_day")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="overview-calls_per_day-2025-03-10-2025-03-12.csv"' in response[
        "Content-Disposition"]
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    assert body.decode("utf-8-sig").splitlines() == [
        "日期,通话量", "2025-03-10,1", "2025-03-11,2", "2025-03-12,0"]
    event = AuditEvent.objects.get(action="dashboard.export")
    assert event.user == org["sup1"] and event.object_type == "dashboard.overview"
    assert event.details == {"chart": "calls_per_day", "from": "2025-03-10", "to": "2025-03-12",
                             "team": None, "rows": 3}  # fmt: skip


def test_csv_rows_keep_names_as_text(client: Client, org: dict, calls: dict) -> None:
    rule = Rule.objects.get(key="complaint")
    response = get(client, org["admin"], f"/dashboards/?{DATES}&format=csv&chart=top_rules")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "规则,命中次数,规则标识,已确认"
    assert f'"{XSS_NAME}",1,complaint,0' in lines or f"{XSS_NAME},1,complaint,0" in lines
    response = get(client, org["admin"],
                   f"/dashboards/rules/{rule.id}/?{DATES}&format=csv&chart=top_agents")
    assert response.content.decode("utf-8-sig").splitlines()[1].startswith("A2 张伟,1,0,0,1,")
    event = AuditEvent.objects.filter(action="dashboard.export").first()
    assert event is not None and event.object_type == "dashboard.rule"
    assert event.object_id == str(rule.id)
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell(-3) == -3 and _cell(None) == ""


def test_an_unknown_chart_is_not_found(client: Client, org: dict, calls: dict) -> None:
    assert get(client, org["admin"], "/dashboards/?format=csv&chart=nope").status_code == 404
    assert not AuditEvent.objects.filter(action="dashboard.export").exists()


def test_a_rule_name_with_html_is_shown_as_text(client: Client, org: dict, calls: dict) -> None:
    rule = Rule.objects.get(key="complaint")
    for url in (f"/dashboards/?{DATES}", f"/dashboards/rules/{rule.id}/?{DATES}",
                f"/dashboards/teams/{org['team2'].id}/?{DATES}"):
        html = get(client, org["admin"], url).content.decode()
        assert "<script>alert" not in html, url
        assert "\\u003Cscript\\u003Ealert" in html or "&lt;script&gt;alert" in html, url
    html = get(client, org["admin"], f"/dashboards/rules/{rule.id}/?{DATES}").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;投诉" in html


def test_the_rule_page_shows_hits_precision_and_top_agents(client: Client, org: dict,
                                                           calls: dict) -> None:
    rule = Rule.objects.get(key="refund_request")
    hit_review(hit=Hit.objects.get(recording=calls["a1_mon"], rule=rule),
               decision=Hit.Review.CONFIRMED, comment="", user=org["sup1"])
    response = get(client, org["sup1"], f"/dashboards/rules/{rule.id}/?{DATES}")
    html = response.content.decode()
    assert response.context["summary"] == {"hits": 2, "pending": 1, "confirmed": 1,
                                           "dismissed": 0, "precision": 100.0}  # fmt: skip
    for name in ("hits", "precision", "top_agents"):
        assert f'id="plot-{name}"' in html
    assert f'href="/dashboards/agents/{org["agent1"].id}/' in html

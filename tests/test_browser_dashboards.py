"""The dashboards in a real browser: every chart is drawn by the local Plotly, nothing is
fetched from another host, and names with HTML show as text."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)

ALL_CHARTS_DRAWN = """() => {
  const plots = Array.from(document.querySelectorAll('.plot'));
  return plots.length > 0 && plots.every(
    (p) => p.classList.contains('js-plotly-plot') && p.querySelector('svg.main-svg'));
}"""




def seed_calls(org: dict[str, Any]) -> None:
    """Two weeks of calls for both teams, through the pipeline's services."""
    from zoneinfo import ZoneInfo

    from analytics.tests.packs import REFUND_RULE, analyzed_call, install, refund_pack
    from qa_platform.models import Agent
    from transcription.models import Recording

    document = refund_pack(rules=[REFUND_RULE, {
        "key": "complaint", "name": "<script>alert('x')</script>投诉", "severity": "critical",
        "explanation": "客户要投诉{evidence}",
        "operators": {"1": {"type": "keywords", "role": "customer", "any": ["投诉"]}}}])
    document["labels"]["complaint"] = {"title": "投诉", "rule": "complaint", "true_when": "fired"}
    document["scorecard"]["critical"] = [{"label": "complaint", "when": True}]
    install(document)
    agents = [org["agent1"], org["agent2"],
              Agent.objects.create(code="A3", name="李娜", team=org["team1"])]
    texts = [[("agent", "您好"), ("customer", "我要退费")],
             [("agent", "您好，请问有什么可以帮您"), ("customer", "好的谢谢，太好了")],
             [("agent", "您好"), ("customer", "我要投诉你们，太差了")]]
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=10, minute=0)
    for n in range(24):
        call = analyzed_call(f"b{n}", agents[n % 3], texts[(n * 7) % 5 % 3])
        started = today - dt.timedelta(days=n % 12, minutes=n)
        Recording.objects.filter(id=call.id).update(started_at=started)


def log_in(page: Any, live_server: Any, path: str, username: str) -> None:
    page.goto(f"{live_server.url}{path}")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")


def assert_local_only(page: Any, live_server: Any) -> None:
    host = urlsplit(live_server.url).hostname
    remote = [url for url in page.requests
              if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != host]
    assert remote == [], "every asset is served by the platform itself"


def test_the_dashboards_draw_every_chart_from_local_assets(
    page: Any, live_server: Any, org: dict[str, Any]
) -> None:
    seed_calls(org)
    log_in(page, live_server, "/dashboards/", "boss")
    page.wait_for_selector("#chart-calls_per_day")
    page.wait_for_function(ALL_CHARTS_DRAWN)
    assert page.locator(".plot").count() == 6
    assert page.locator("#dashboard-summary .num").first.inner_text() == "24"
    # The rule named with HTML is drawn as its text, and no script ran.
    labels = page.locator("#chart-top_rules .ytick text").all_text_contents()
    assert "<script>alert('x')</script>投诉" in labels
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_overview.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366, "no sideways scroll"

    page.click(f"a[href^='/dashboards/teams/{org['team1'].id}/']")
    page.wait_for_function(ALL_CHARTS_DRAWN)
    page.click("#chart-ranking .chart-links a >> nth=0")
    page.wait_for_selector("h1:has-text('坐席看板')")
    page.wait_for_function(ALL_CHARTS_DRAWN)
    assert page.locator(".plot").count() == 3
    page.screenshot(path=str(ARTIFACTS / "dashboard_agent.png"), full_page=True)

    assert page.console_errors == []
    assert_local_only(page, live_server)


def test_an_invalid_filter_shows_a_notice_in_the_page(
    page: Any, live_server: Any, org: dict[str, Any]
) -> None:
    log_in(page, live_server, "/dashboards/?from=2025-02-30", "sup1")
    page.wait_for_selector("#filter-notices")
    assert "不是有效日期" in page.locator("#filter-notices").inner_text()
    page.wait_for_function(ALL_CHARTS_DRAWN)  # empty charts still draw, with a note
    assert page.console_errors == []
    assert_local_only(page, live_server)

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from analytics.keyword_search import KeywordQuery, search_parse, search_results
from analytics.models import CallScore, Hit, Rule, SavedSearch
from analytics.services.saved_searches import (
    SavedSearchError,
    saved_search_create,
    saved_search_delete,
)
from analytics.tests.packs import analyzed_call, install
from qa_platform.models import AuditEvent
from transcription.models import Recording


def _on(recording: Recording, day: str) -> Recording:
    started = dt.datetime.fromisoformat(f"{day}T10:00:00").replace(
        tzinfo=timezone.get_current_timezone()
    )
    Recording.objects.filter(id=recording.id).update(started_at=started)
    return recording


@pytest.fixture
def calls(org: dict[str, Any]) -> dict[str, Recording]:
    install()
    calls = {
        # team 1 (agent A1)
        "refund": _on(analyzed_call("refund", org["agent1"], [
            ("agent", "您好，请问有什么可以帮您"), ("customer", "我要退费，年费太贵了")]),
            "2026-03-01"),
        "card": _on(analyzed_call("card", org["agent1"], [
            ("agent", "您的Credit Card已经寄出"), ("customer", "好的，信用卡什么时候到")]),
            "2026-03-05"),
        "xss": _on(analyzed_call("xss", org["agent1"], [
            ("customer", "<script>alert(1)</script>投诉<b>x</b>")]), "2026-03-06"),
        # team 2 (agent A2)
        "other": _on(analyzed_call("other", org["agent2"], [
            ("customer", "年费能不能退费"), ("agent", "我帮您申请投诉处理")]), "2026-04-10"),
    }  # fmt: skip
    CallScore.objects.filter(recording=calls["refund"]).update(customer_sentiment_end="negative")
    CallScore.objects.filter(recording=calls["card"]).update(customer_sentiment_end="positive")
    return calls


def found(user: Any, **params: str) -> set[str]:
    """The call ids whose turns match, as the page's selector returns them."""
    parsed = search_parse(params, user=user)
    assert parsed.runnable, parsed
    return {row[2] for row in search_results(parsed.query, user=user)}


def _id(value: object) -> str:
    return "&".join(f"{k}={x}" for k, x in value.items()) if isinstance(value, dict) else ""


@pytest.mark.parametrize(("params", "expected"), [
    ({"q": "退费"}, {"CALL-refund", "CALL-other"}),
    ({"q": "退费 信用卡"}, {"CALL-refund", "CALL-other", "CALL-card"}),
    ({"q": "年费 退费", "match": "all"}, {"CALL-refund", "CALL-other"}),
    ({"q": "年费 投诉", "match": "all"}, {"CALL-other"}),
    ({"q": '"credit card"'}, {"CALL-card"}),  # a phrase, case-insensitive
    ({"q": "CREDIT"}, {"CALL-card"}),
    ({"q": "cA"}, {"CALL-card"}),  # two characters (a bigram lookup on PostgreSQL), any case
    ({"q": "寄出 有什么"}, {"CALL-card", "CALL-refund"}),  # a two- and a three-character term
    ({"q": "投诉", "role": "agent"}, {"CALL-other"}),
    ({"q": "投诉", "role": "customer"}, {"CALL-xss"}),
    ({"q": "年费 投诉", "match": "all", "role": "customer"}, set()),
    ({"q": "退费", "date_from": "2026-04-01"}, {"CALL-other"}),
    ({"q": "退费", "date_to": "2026-03-31"}, {"CALL-refund"}),
    ({"q": "退费", "date_from": "2026-03-01", "date_to": "2026-03-01"}, {"CALL-refund"}),
    ({"q": "退费", "agent": "A2"}, {"CALL-other"}),
    ({"q": "您", "sentiment": "negative"}, None),  # one character: not run
    ({"q": "您好 您的", "sentiment": "negative"}, {"CALL-refund"}),
    ({"q": "您好 您的", "sentiment": "positive"}, {"CALL-card"}),
], ids=_id)
def test_terms_and_filters_select_the_right_calls(org: dict, calls: dict, params: dict,
                                                  expected: set[str] | None) -> None:
    if expected is None:
        assert not search_parse(params, user=org["auditor"]).runnable
    else:
        assert found(org["auditor"], **params) == expected


def test_credit_card_as_two_terms_matches_any_of_them(org: dict, calls: dict) -> None:
    assert found(org["auditor"], q="credit card") == {"CALL-card"}


def test_team_and_rule_hit_filters(org: dict, calls: dict) -> None:
    refund_rule = Rule.objects.get(key="refund_request")
    assert found(org["auditor"], q="年费", team=str(org["team2"].id)) == {"CALL-other"}
    assert found(org["auditor"], q="年费", rule=str(refund_rule.id)) == {"CALL-refund",
                                                                         "CALL-other"}
    Hit.objects.filter(recording=calls["other"]).update(review=Hit.Review.DISMISSED)
    assert found(org["auditor"], q="年费", rule=str(refund_rule.id)) == {"CALL-refund"}


def test_a_supervisor_never_sees_another_teams_segments(org: dict, calls: dict) -> None:
    assert found(org["sup1"], q="退费") == {"CALL-refund"}
    assert found(org["sup2"], q="退费") == {"CALL-other"}
    parsed = search_parse({"q": "退费", "team": str(org["team2"].id), "agent": "A2"},
                          user=org["sup1"])
    assert parsed.query.team is None and parsed.query.agent == ""
    assert len(parsed.notices) == 2
    assert {row[2] for row in search_results(parsed.query, user=org["sup1"])} == {"CALL-refund"}


def test_an_auditor_and_an_admin_see_every_team(org: dict, calls: dict) -> None:
    assert found(org["auditor"], q="退费") == {"CALL-refund", "CALL-other"}
    assert found(org["admin"], q="退费") == {"CALL-refund", "CALL-other"}


@pytest.mark.parametrize("who", ["agent_user", "nobody"])
def test_agents_and_users_without_a_role_may_not_search(client: Client, org: dict,
                                                        calls: dict, who: str) -> None:
    client.force_login(org[who])
    assert client.get("/search/?q=退费").status_code == 403
    assert client.get("/search/?q=退费&format=csv").status_code == 403
    assert client.post("/search/saved/", {"q": "退费", "name": "x"}).status_code == 403
    assert "关键词稽核" not in client.get("/calls/review/").content.decode()


def download(client: Client, url: str, content_type: str = "") -> bytes:
    response: Any = client.get(url)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert response["Content-Type"].startswith(content_type)
    return b"".join(response.streaming_content)


def get(client: Client, user: Any, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_highlighted_snippets_linking_to_the_moment(client: Client, org: dict,
                                                                   calls: dict) -> None:
    html = get(client, org["auditor"], "/search/?q=退费")
    assert "关键词稽核" in html
    assert "我要<mark>退费</mark>，年费太贵了" in html
    assert "年费能不能<mark>退费</mark>" in html
    refund = calls["refund"]
    second = refund.transcript.segments.get(index=1).start_ms / 1000
    assert f'href="/calls/{refund.id}/?t={second:g}#t={second:g}"' in html
    assert html.index("CALL-other") < html.index("CALL-refund"), "newest call first"
    event = AuditEvent.objects.get(action="search.run")
    assert event.details["query"] == {"q": "退费"} and event.details["results"] == 2


def test_an_empty_or_one_character_search_asks_for_more(client: Client, org: dict,
                                                        calls: dict) -> None:
    for url in ("/search/?q=", "/search/?q=退", "/search/?q=+x+", "/search/?q=退费+x"):
        html = get(client, org["auditor"], url)
        assert "请输入至少 2 个字的关键词" in html, url
        assert 'id="search-results"' not in html
    assert "请输入至少" not in get(client, org["auditor"], "/search/")
    assert not AuditEvent.objects.filter(action="search.run").exists()


def test_invalid_filters_are_ignored_with_a_visible_notice(client: Client, org: dict,
                                                          calls: dict) -> None:
    html = get(client, org["sup1"], "/search/?q=退费&date_from=2026-13-40&team=abc"
                                    "&rule=99999&sentiment=angry&role=boss&match=most"
                                    "&agent=A2&date_to=yesterday")  # fmt: skip
    for notice in ("开始日期“2026-13-40”不是有效日期", "结束日期“yesterday”不是有效日期",
                   "班组不存在或不在您的查看范围内", "规则不存在", "客户情绪“angry”无效",
                   "角色“boss”无效", "匹配方式无效", "坐席工号“A2”不存在或不在您的查看范围内"):
        assert notice in html
    assert "<mark>退费</mark>" in html and "CALL-refund" in html
    assert "CALL-other" not in html


def test_html_in_transcripts_is_shown_as_text(client: Client, org: dict, calls: dict) -> None:
    html = get(client, org["auditor"], "/search/?q=投诉")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<mark>投诉</mark>&lt;b&gt;x&lt;/b&gt;" in html
    assert "<script>alert(1)" not in html
    html = get(client, org["auditor"], "/search/?q=<script>")
    assert "<mark>&lt;script&gt;</mark>alert(1)" in html
    assert 'value="&lt;script&gt;"' in html


def test_csv_export_has_every_row_in_chinese_columns_and_is_audited(client: Client, org: dict,
                                                                   calls: dict) -> None:
    client.force_login(org["sup1"])
    body = download(client, "/search/?q=退费+投诉&format=csv", "text/csv; charset=utf-8")
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["通话编号", "通话时间", "坐席工号"] and "文本" in rows[0]
    assert sorted(r[0] for r in rows[1:]) == ["CALL-refund", "CALL-xss"], "team 1 only"
    xss = next(r for r in rows[1:] if r[0] == "CALL-xss")
    assert xss[1] == "2026-03-06 10:00:00" and xss[5] == "客户"
    assert xss[7] == "<script>alert(1)</script>投诉<b>x</b>", "exports carry the plain text"
    assert xss[9].endswith(f"/calls/{calls['xss'].id}/?t=0#t=0")
    event = AuditEvent.objects.get(action="search.export")
    assert event.details == {"query": {"q": "退费 投诉"}, "format": "csv", "rows": 2,
                             "truncated": False}  # fmt: skip
    assert event.username == "sup1"


def test_xlsx_export_opens_in_a_spreadsheet_and_is_audited(client: Client, org: dict,
                                                           calls: dict) -> None:
    from openpyxl import load_workbook

    client.force_login(org["auditor"])
    body = download(client, "/search/?q=年费&format=xlsx&agent=A2")
    book = load_workbook(io.BytesIO(body), read_only=True)
    rows = list(book["搜索结果"].iter_rows(values_only=True))
    assert rows[0][0] == "通话编号" and rows[0][7] == "文本"
    assert [r[0] for r in rows[1:]] == ["CALL-other"]
    assert rows[1][7] == "年费能不能退费"
    conditions = dict(r[:2] for r in book["搜索条件"].iter_rows(values_only=True))
    assert conditions["q"] == "年费" and conditions["agent"] == "A2"
    event = AuditEvent.objects.get(action="search.export")
    assert event.details["format"] == "xlsx" and event.details["rows"] == 1


def test_exports_stop_at_the_cap_and_say_so(client: Client, org: dict, calls: dict,
                                            monkeypatch: Any) -> None:
    monkeypatch.setattr("analytics.keyword_search.EXPORT_ROW_CAP", 1)
    client.force_login(org["auditor"])
    body = download(client, "/search/?q=退费&format=csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 3 and "仅导出前 1 行" in rows[2][0]
    assert AuditEvent.objects.get(action="search.export").details["truncated"] is True
    assert "导出最多 1 行" in get(client, org["auditor"], "/search/?q=退费")


def test_a_formula_in_a_transcript_is_exported_as_text(client: Client, org: dict) -> None:
    install()
    analyzed_call("formula", org["agent1"], [("customer", "=HYPERLINK(\"x\")退费")])
    client.force_login(org["auditor"])
    body = download(client, "/search/?q=退费&format=csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1][7] == "'=HYPERLINK(\"x\")退费"


def test_saved_searches_are_saved_listed_run_and_deleted_by_their_owner(
    client: Client, org: dict, calls: dict
) -> None:
    client.force_login(org["sup1"])
    response = client.post("/search/saved/", {"q": "退费", "role": "customer",
                                              "team": "abc", "name": "稽核<i>甲</i>"})
    assert response.status_code == 302
    saved = SavedSearch.objects.get(owner=org["sup1"])
    assert saved.query == {"q": "退费", "role": "customer"}, "invalid values are not kept"
    html = get(client, org["sup1"], "/search/")
    assert "稽核&lt;i&gt;甲&lt;/i&gt;" in html
    assert "/search/?q=%E9%80%80%E8%B4%B9&amp;role=customer" in html
    html = get(client, org["sup1"], "/search/?q=%E9%80%80%E8%B4%B9&role=customer")
    assert "<mark>退费</mark>" in html

    duplicate = client.post("/search/saved/", {"q": "投诉", "name": "稽核<i>甲</i>"},
                            follow=True)  # fmt: skip
    assert "已有名为“稽核&lt;i&gt;甲&lt;/i&gt;”的保存的搜索" in duplicate.content.decode()
    assert SavedSearch.objects.count() == 1

    client.force_login(org["sup2"])
    assert "稽核&lt;i&gt;" not in get(client, org["sup2"], "/search/"), "only one's own"
    assert client.post(f"/search/saved/{saved.id}/delete/").status_code == 404
    assert SavedSearch.objects.filter(id=saved.id).exists()

    client.force_login(org["sup1"])
    assert client.post(f"/search/saved/{saved.id}/delete/").status_code == 302
    assert not SavedSearch.objects.exists()
    actions = list(AuditEvent.objects.filter(action__startswith="search.")
                   .order_by("id").values_list("action", flat=True))  # fmt: skip
    assert actions.count("search.save") == 1 and actions.count("search.delete") == 1


def test_saving_needs_a_name_and_a_runnable_query(org: dict) -> None:
    with pytest.raises(SavedSearchError, match="名称"):
        saved_search_create(owner=org["auditor"], name="  ", query=KeywordQuery(q="退费",
                                                                                terms=("退费",)))
    with pytest.raises(SavedSearchError, match="关键词"):
        saved_search_create(owner=org["auditor"], name="x", query=KeywordQuery())
    with pytest.raises(SavedSearch.DoesNotExist):
        saved_search_delete(user=org["auditor"], saved_search_id=12345)


def test_the_nav_links_the_search_for_the_roles_allowed(client: Client, org: dict) -> None:
    for who in ("auditor", "sup1", "admin"):
        assert "关键词稽核" in get(client, org[who], "/calls/review/"), who

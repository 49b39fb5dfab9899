from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from analytics.tests.packs import analyzed_call, install
from qa_platform.models import AuditEvent
from transcription.models import Recording


@pytest.fixture
def calls(org: dict[str, Any]) -> dict[str, Recording]:
    install()
    return {
        "team1": analyzed_call("a", org["agent1"], [("agent", "您好"), ("customer", "我要退费")]),
        "team2": analyzed_call("b", org["agent2"], [("customer", "退费！")], engine="funasr"),
        "clean": analyzed_call("c", org["agent1"], [("agent", "您好"), ("customer", "谢谢")]),
        "xss": analyzed_call("d", org["agent1"],
                             [("customer", "<script>alert(1)</script>退费<b>x</b>")]),
    }


def page(client: Client, user: Any, url: str = "/calls/review/") -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_supervisor_sees_their_teams_flagged_calls_only(client: Client, org: dict,
                                                           calls: dict) -> None:
    html = page(client, org["sup1"])
    assert "待复核通话" in html
    assert "CALL-a" in html and "退费诉求" in html
    assert "CALL-b" not in html, "another team's call"
    assert "CALL-c" not in html, "a call the scorecard did not flag"


def test_the_queue_says_where_each_transcript_came_from(client: Client, org: dict,
                                                        calls: dict) -> None:
    html = page(client, org["auditor"])
    assert "随附转写文件" in html and "FunASR 语音识别" in html


def test_an_agent_sees_only_their_own_calls(client: Client, org: dict, calls: dict) -> None:
    html = page(client, org["agent_user"])
    assert "CALL-a" in html and "CALL-b" not in html


def test_a_call_outside_the_users_scope_is_not_found(client: Client, org: dict,
                                                     calls: dict) -> None:
    client.force_login(org["sup1"])
    assert client.get(f"/calls/{calls['team2'].id}/").status_code == 404
    assert client.get("/calls/999999/").status_code == 404


def test_the_call_page_highlights_hits_and_is_audited(client: Client, org: dict,
                                                      calls: dict) -> None:
    html = page(client, org["sup1"], f"/calls/{calls['team1'].id}/")
    assert '<mark class="hit severity-minor"' in html
    assert ">退费</mark>" in html
    event = AuditEvent.objects.get(action="transcript.view")
    assert (event.username, event.object_id) == ("sup1", str(calls["team1"].id))


def test_transcript_text_is_shown_as_text_never_as_markup(client: Client, org: dict,
                                                          calls: dict) -> None:
    html = page(client, org["sup1"], f"/calls/{calls['xss'].id}/")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


def test_the_interface_is_chinese_by_default_and_english_on_request(client: Client, org: dict,
                                                                   calls: dict) -> None:
    client.force_login(org["sup1"])
    assert "待复核通话" in client.get("/calls/review/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/calls/review/"})
    assert client.get("/calls/review/").headers["Content-Language"] == "en"

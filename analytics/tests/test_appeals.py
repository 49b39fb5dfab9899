from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from analytics.models import Appeal, CallScore, Hit
from analytics.services.appeals import AppealError, appeal_create, appeal_decide
from analytics.tests.packs import REFUND_PACK, REFUND_RULE, analyzed_call, install, refund_pack
from qa_platform.models import Agent, AuditEvent
from qa_platform.roles import Role
from transcription.models import Recording


@pytest.fixture
def calls(org: dict[str, Any]) -> dict[str, Recording]:
    install()  # refund_request: a 10-point deduction that also flags the call
    return {
        "refund": analyzed_call("a", org["agent1"], [("agent", "您好"), ("customer", "我要退费")]),
        "clean": analyzed_call("c", org["agent1"], [("agent", "您好"), ("customer", "谢谢")]),
        "team2": analyzed_call("b", org["agent2"], [("customer", "退费！")]),
    }


def html(client: Client, user: User, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def appeal_hit(client: Client, org: dict, call: Recording, comment: str = "客户只是询问") -> Any:
    hit = Hit.objects.get(recording=call)
    client.force_login(org["agent_user"])
    return client.post(f"/calls/{call.id}/appeal/", {"target": f"hit-{hit.id}",
                                                     "comment": comment})  # fmt: skip


def test_an_agent_appeals_a_hit_and_the_supervisor_accepts_it(
    client: Client, org: dict, calls: dict
) -> None:
    call = calls["refund"]
    assert CallScore.objects.get(recording=call).score == 90
    form = html(client, org["agent_user"], f"/calls/{call.id}/appeal/")
    assert 'name="target" value="hit-' in form and "退费诉求" in form

    response = appeal_hit(client, org, call)
    assert response.status_code == 302
    appeal = Appeal.objects.get()
    assert (appeal.status, appeal.rule_key, appeal.created_by) == (
        "open", "refund_request", org["agent_user"])
    assert "待处理" in html(client, org["agent_user"], "/my/calls/")
    assert "待处理" in html(client, org["agent_user"], "/appeals/")

    page = html(client, org["sup1"], "/appeals/")
    assert "客户只是询问" in page and f'/appeals/{appeal.id}/decide/' in page
    response = client.post(f"/appeals/{appeal.id}/decide/",
                           {"decision": "accept", "comment": "同意"})  # fmt: skip
    assert response.status_code == 302

    appeal.refresh_from_db()
    assert (appeal.status, appeal.decided_by, appeal.score_before, appeal.score_after) == (
        "accepted", org["sup1"], 90, 100)
    assert Hit.objects.get(recording=call).review == "dismissed"
    score = CallScore.objects.get(recording=call)
    assert (score.score, score.flagged) == (100, False)

    mine = html(client, org["agent_user"], "/my/calls/")
    row = mine[mine.index(f'id="call-{call.id}"'):]
    row = row[:row.index("</tr>")]
    assert "已采纳" in row and 'class="num score">100<' in row
    assert "已采纳" in html(client, org["agent_user"], "/appeals/")
    assert "已采纳" in html(client, org["sup1"], f"/calls/{call.id}/appeal/")

    events = {e.action: e for e in AuditEvent.objects.filter(action__startswith="appeal.")}
    assert events["appeal.create"].username == "a1"
    assert events["appeal.create"].details["rule"] == "refund_request"
    assert events["appeal.decide"].username == "sup1"
    assert events["appeal.decide"].details["status"] == "accepted"
    assert (events["appeal.decide"].details["score_before"],
            events["appeal.decide"].details["score_after"]) == (90, 100)  # fmt: skip
    assert AuditEvent.objects.filter(action="hit.review", username="sup1").exists()


def test_accepting_an_item_appeal_dismisses_the_hits_of_the_rule_the_item_is_read_from(
    org: dict, calls: dict
) -> None:
    call = calls["refund"]
    appeal = appeal_create(recording=call, user=org["agent_user"], item_key="refund_request",
                           comment="客户并未要求退费")  # fmt: skip
    assert (appeal.item_key, appeal.rule_key, appeal.hit) == ("refund_request",
                                                              "refund_request", None)
    decided = appeal_decide(appeal=appeal, user=org["admin"], accept=True, comment="")
    assert (decided.status, decided.score_before, decided.score_after) == ("accepted", 90, 100)
    assert Hit.objects.get(recording=call).review == "dismissed"


GREETING_RULE: dict[str, Any] = {
    "key": "greeting", "name": "开场问候", "severity": "minor", "explanation": "坐席问候{evidence}",
    "operators": {"1": {"type": "keywords", "role": "agent", "any": ["您好"]}},
}  # fmt: skip


def test_an_item_lost_because_a_phrase_was_missing_is_overridden_and_stays_after_reanalysis(
    client: Client, org: dict
) -> None:
    """The agent said the greeting but the ASR missed it: no hit to dismiss, the item is
    overridden instead, the call page says so, and re-analysis keeps it."""
    from analytics.services.analysis import call_analyze

    install(refund_pack(
        rules=[REFUND_RULE, GREETING_RULE],
        labels={**REFUND_PACK["labels"],
                "greeting": {"title": "开场问候", "rule": "greeting", "true_when": "fired"}},
        scorecard={**REFUND_PACK["scorecard"], "points": {"greeting": 20}},
    ))  # fmt: skip
    call = analyzed_call("g", org["agent1"], [("agent", "恩好，请讲"), ("customer", "查账单")])
    score = CallScore.objects.get(recording=call)
    assert score.score == 80 and not Hit.objects.filter(recording=call).exists()
    # No hit, but an item that cost points: 我的通话 offers the appeal.
    assert f'/calls/{call.id}/appeal/">申诉</a>' in html(client, org["agent_user"], "/my/calls/")

    appeal = appeal_create(recording=call, user=org["agent_user"], item_key="greeting",
                           comment="我说了您好，是识别错了")  # fmt: skip
    decided = appeal_decide(appeal=appeal, user=org["sup1"], accept=True, comment="已听录音")
    assert (decided.status, decided.score_before, decided.score_after) == ("accepted", 80, 100)
    score.refresh_from_db()
    assert score.overrides == {"greeting": True} and score.labels["greeting"] is True
    item = next(i for i in score.items if i["key"] == "greeting")
    assert item["overridden"] and not item["lost"]
    assert AuditEvent.objects.get(action="appeal.decide").details["overridden_item"] == "greeting"
    assert "已改判" in html(client, org["sup1"], f"/calls/{call.id}/")

    call_analyze(recording_id=call.id)  # e.g. a new rule-set version re-analyzes the call
    score.refresh_from_db()
    assert (score.score, score.overrides) == (100, {"greeting": True})


def test_a_rejected_appeal_keeps_the_score_and_needs_a_reason(
    client: Client, org: dict, calls: dict
) -> None:
    call = calls["refund"]
    appeal_hit(client, org, call)
    appeal = Appeal.objects.get()
    client.force_login(org["sup1"])
    page = client.post(f"/appeals/{appeal.id}/decide/", {"decision": "reject", "comment": ""},
                       follow=True).content.decode()  # fmt: skip
    assert "驳回申诉时请填写处理意见" in page
    assert Appeal.objects.get().status == "open"

    client.post(f"/appeals/{appeal.id}/decide/",
                {"decision": "reject", "comment": "录音中客户明确要求退费"})  # fmt: skip
    appeal.refresh_from_db()
    assert (appeal.status, appeal.score_before, appeal.score_after) == ("rejected", 90, 90)
    assert Hit.objects.get(recording=call).review == "pending"
    assert CallScore.objects.get(recording=call).score == 90
    page = html(client, org["agent_user"], "/appeals/")
    assert "已驳回" in page and "录音中客户明确要求退费" in page


def test_a_decided_appeal_is_closed(client: Client, org: dict, calls: dict) -> None:
    appeal_hit(client, org, calls["refund"])
    appeal = Appeal.objects.get()
    appeal_decide(appeal=appeal, user=org["sup1"], accept=False, comment="不成立")
    with pytest.raises(AppealError, match="已处理"):
        appeal_decide(appeal=appeal, user=org["sup1"], accept=True, comment="")
    client.force_login(org["sup1"])
    page = client.post(f"/appeals/{appeal.id}/decide/", {"decision": "accept"},
                       follow=True).content.decode()  # fmt: skip
    assert "该申诉已处理，不能再次处理" in page
    appeal.refresh_from_db()
    assert appeal.status == "rejected"
    assert Hit.objects.get(recording=calls["refund"]).review == "pending"
    assert AuditEvent.objects.filter(action="appeal.decide").count() == 1


def test_the_window_counts_from_the_analysis(client: Client, org: dict, calls: dict,
                                             settings: Any) -> None:  # fmt: skip
    call = calls["refund"]
    settings.APPEAL_WINDOW_DAYS = 3
    analyzed = timezone.now() - dt.timedelta(days=3, minutes=1)
    CallScore.objects.filter(recording=call).update(first_analyzed_at=analyzed)
    response = appeal_hit(client, org, call)
    assert response.status_code == 400
    assert "已超过申诉期限" in response.content.decode()
    assert not Appeal.objects.exists()
    assert "已过申诉期" in html(client, org["agent_user"], "/my/calls/")
    # Re-analysing the call (a new rule-set version, say) does not reopen the window.
    from analytics.services.analysis import call_analyze

    Recording.objects.filter(id=call.id).update(status=Recording.Status.TRANSCRIBED)
    call_analyze(recording_id=call.id)
    score = CallScore.objects.get(recording=call)
    assert score.analyzed_at > analyzed + dt.timedelta(days=3)
    assert score.first_analyzed_at == analyzed
    assert appeal_hit(client, org, call).status_code == 400

    CallScore.objects.filter(recording=call).update(
        first_analyzed_at=analyzed + dt.timedelta(minutes=2))
    assert appeal_hit(client, org, call).status_code == 302


def test_calls_of_other_agents_and_unknown_calls_are_not_found(
    client: Client, org: dict, calls: dict, make_user: Callable[..., User]
) -> None:
    other = make_user("a2", Role.AGENT)
    Agent.objects.filter(id=org["agent2"].id).update(user=other)
    call = calls["refund"]
    hit = Hit.objects.get(recording=call)
    client.force_login(other)
    assert client.get(f"/calls/{call.id}/appeal/").status_code == 404
    assert client.post(f"/calls/{call.id}/appeal/",
                       {"target": f"hit-{hit.id}", "comment": "x"}).status_code == 404
    assert client.get("/calls/999999/appeal/").status_code == 404
    assert "CALL-a" not in html(client, other, "/my/calls/")
    # A hit of another call, posted on the agent's own call, is not found either.
    client.force_login(org["agent_user"])
    foreign = Hit.objects.get(recording=calls["team2"])
    assert client.post(f"/calls/{call.id}/appeal/",
                       {"target": f"hit-{foreign.id}", "comment": "x"}).status_code == 404
    assert not Appeal.objects.exists()


def test_only_the_teams_supervisors_and_admins_decide(client: Client, org: dict,
                                                     calls: dict) -> None:  # fmt: skip
    appeal_hit(client, org, calls["refund"])
    appeal = Appeal.objects.get()
    url = f"/appeals/{appeal.id}/decide/"
    for user, status in ((org["sup2"], 404), (org["nobody"], 404), (org["agent_user"], 403),
                         (org["auditor"], 403)):  # fmt: skip
        client.force_login(user)
        assert client.post(url, {"decision": "accept"}).status_code == status, user
    assert "客户只是询问" not in html(client, org["sup2"], "/appeals/")
    assert f"/appeals/{appeal.id}/decide/" not in html(client, org["auditor"], "/appeals/")
    with pytest.raises(AppealError):
        appeal_decide(appeal=appeal, user=org["sup2"], accept=True, comment="")
    assert Appeal.objects.get().status == "open"
    client.force_login(org["admin"])
    assert client.post(url, {"decision": "accept"}).status_code == 302
    assert Appeal.objects.get().status == "accepted"


def test_what_may_be_appealed(org: dict, calls: dict, make_user: Callable[..., User]) -> None:
    call, agent = calls["refund"], org["agent_user"]
    hit = Hit.objects.get(recording=call)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"user": org["sup1"], "hit": hit}, "只有本通话的坐席本人可以申诉"),
        ({"hit": hit, "comment": "  "}, "请填写申诉理由"),
        ({}, "请选择要申诉的一条规则命中或一个评分项"),
        ({"hit": hit, "item_key": "refund_request"}, "请选择"),
        ({"item_key": "attitude"}, "没有自动评分项「attitude」"),  # a manual item
        ({"item_key": "nope"}, "没有自动评分项"),
        ({"hit": Hit.objects.get(recording=calls["team2"])}, "不属于本通话"),
    ]
    for changes, message in cases:
        arguments = {"recording": call, "user": agent, "comment": "理由", **changes}
        with pytest.raises(AppealError, match=message):
            appeal_create(**arguments)
    appeal_create(recording=call, user=agent, hit=hit, comment="理由")
    with pytest.raises(AppealError, match="已有待处理的申诉"):
        appeal_create(recording=call, user=agent, hit=hit, comment="再次申诉")
    # The item is a different thing to appeal: allowed once, too.
    appeal_create(recording=call, user=agent, item_key="refund_request", comment="理由")
    with pytest.raises(AppealError, match="已有待处理的申诉"):
        appeal_create(recording=call, user=agent, item_key="refund_request", comment="理由")
    # A clean call has nothing that cost points.
    with pytest.raises(AppealError, match="没有扣分"):
        appeal_create(recording=calls["clean"], user=agent, item_key="refund_request",
                      comment="理由")  # fmt: skip
    Hit.objects.filter(id=hit.id).update(review=Hit.Review.DISMISSED)
    Appeal.objects.all().delete()
    with pytest.raises(AppealError, match="已被驳回"):
        appeal_create(recording=call, user=agent, hit=hit, comment="理由")


def test_comments_are_shown_as_text_never_as_markup(client: Client, org: dict,
                                                   calls: dict) -> None:  # fmt: skip
    call = calls["refund"]
    appeal_hit(client, org, call, comment="<script>alert(1)</script><b>x</b>")
    appeal = Appeal.objects.get()
    client.force_login(org["sup1"])
    client.post(f"/appeals/{appeal.id}/decide/",
                {"decision": "reject", "comment": "<img src=x onerror=alert(2)>"})  # fmt: skip
    for user, url in ((org["sup1"], "/appeals/"), (org["agent_user"], "/appeals/"),
                      (org["agent_user"], f"/calls/{call.id}/appeal/")):  # fmt: skip
        page = html(client, user, url)
        assert "<script>alert(1)</script>" not in page and "<b>x</b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_open_appeals_come_first_and_the_list_filters_by_status(
    client: Client, org: dict, calls: dict
) -> None:
    call, agent = calls["refund"], org["agent_user"]
    first = appeal_create(recording=call, user=agent, item_key="refund_request", comment="甲")
    appeal_decide(appeal=first, user=org["sup1"], accept=False, comment="不成立")
    appeal_create(recording=call, user=agent, hit=Hit.objects.get(recording=call), comment="乙")
    page = html(client, org["sup1"], "/appeals/")
    assert page.index("乙") < page.index("甲"), "the open appeal first"
    assert "待处理（1）" in page and "已驳回（1）" in page and "全部（2）" in page
    only_rejected = html(client, org["sup1"], "/appeals/?status=rejected")
    assert "甲" in only_rejected and "乙" not in only_rejected


def test_agents_get_their_own_navigation(client: Client, org: dict, calls: dict) -> None:
    page = html(client, org["agent_user"], "/my/calls/")
    assert 'href="/my/calls/"' in page and 'href="/appeals/"' in page
    assert "CALL-a" in page and "CALL-c" in page and "CALL-b" not in page
    supervisor = html(client, org["sup1"], "/appeals/")
    assert 'href="/my/calls/"' not in supervisor and 'href="/appeals/"' in supervisor
    client.force_login(org["agent_user"])  # the review queue is the reviewers' page
    response = client.get("/calls/review/")
    assert (response.status_code, response["Location"]) == (302, "/my/calls/")


def test_opening_the_appeal_page_is_audited_as_a_transcript_view(
    client: Client, org: dict[str, Any]
) -> None:
    install()
    call = analyzed_call("audit-appeal", org["agent1"], [("customer", "我要退费。")])
    client.force_login(org["agent_user"])
    assert client.get(f"/calls/{call.id}/appeal/").status_code == 200
    event = AuditEvent.objects.get(action="transcript.view", object_id=str(call.id))
    assert event.details == {"page": "appeal"} and event.username == "a1"

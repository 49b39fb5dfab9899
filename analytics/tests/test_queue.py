"""The review queue: filters, assignment and the calibration sample."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import CallScore, RuleVersion
from analytics.services.queue import QueueError, calls_assign, review_sample_draw
from analytics.tests.packs import REFUND_RULE, analyzed_call, install, refund_pack
from qa_platform.models import AuditEvent
from transcription.models import Recording

pytestmark = pytest.mark.django_db

C = "customer"


@pytest.fixture
def calls(org: dict[str, Any]) -> dict[str, Recording]:
    cancel = {"key": "cancel", "name": "销户", "severity": "major",
              "operators": {"1": {"type": "keywords", "role": "customer", "any": ["销户"]}}}
    pack = refund_pack(rules=[REFUND_RULE, cancel])
    pack["labels"]["cancel"] = {"title": "销户", "rule": "cancel", "true_when": "fired"}
    pack["scorecard"]["flag"]["when"].append({"label": "cancel", "value": True})
    install(pack)
    made = {
        "refund": analyzed_call("q1", org["agent1"], [(C, "我要退费。")]),
        "cancel": analyzed_call("q2", org["agent1"], [(C, "我要销户，太差了，很生气。")]),
        "other_team": analyzed_call("q3", org["agent2"], [(C, "我要退费。")]),
        "clean": analyzed_call("q4", org["agent1"], [(C, "查一下账单。")]),
    }
    day = timezone.now() - dt.timedelta(days=3)
    Recording.objects.filter(id=made["cancel"].id).update(started_at=day)
    Recording.objects.filter(id=made["refund"].id).update(started_at=day - dt.timedelta(days=5))
    return made


def queue(client: Client, user: Any, query: str = "") -> str:
    client.force_login(user)
    response = client.get(f"/calls/review/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_the_queue_orders_by_severity_and_filters(client: Client, org: dict[str, Any],
                                                  calls: dict[str, Recording]) -> None:  # fmt: skip
    html = queue(client, org["sup1"])
    assert html.index("CALL-q2") < html.index("CALL-q1"), "major before minor"
    assert "CALL-q3" not in html and "CALL-q4" not in html
    cancel_rule = RuleVersion.objects.get(rule__key="cancel").rule_id
    html = queue(client, org["sup1"], f"?rule={cancel_rule}")
    assert "CALL-q2" in html and "CALL-q1" not in html
    html = queue(client, org["sup1"], "?sentiment=negative")
    assert "CALL-q2" in html and "CALL-q1" not in html
    since = (timezone.localdate() - dt.timedelta(days=4)).isoformat()
    html = queue(client, org["sup1"], f"?date_from={since}")
    assert "CALL-q2" in html and "CALL-q1" not in html
    html = queue(client, org["sup1"], "?score_max=85")
    assert "CALL-q1" not in html  # refund costs 10 points: 90


def test_invalid_or_out_of_scope_filters_are_ignored_with_a_notice(
    client: Client, org: dict[str, Any], calls: dict[str, Recording],
) -> None:
    html = queue(client, org["sup1"], f"?date_from=yesterday&team={org['team2'].id}&score_min=x")
    assert 'id="ignored-filters"' in html
    for label in ("开始日期", "班组", "最低分"):
        assert label in html.split('id="ignored-filters"')[1].split("</p>")[0]
    assert "CALL-q1" in html and "CALL-q2" in html, "the other filters still apply (none here)"


def test_calls_are_assigned_singly_or_in_bulk_within_scope(
    client: Client, org: dict[str, Any], calls: dict[str, Recording],
) -> None:
    client.force_login(org["sup1"])
    ids = [calls["refund"].id, calls["cancel"].id, calls["other_team"].id]
    response = client.post("/calls/review/assign/",
                           {"call": [str(i) for i in ids], "reviewer": org["sup1"].id})
    assert response.status_code == 302
    assigned = dict(CallScore.objects.values_list("recording_id", "assigned_to_id"))
    assert assigned[calls["refund"].id] == assigned[calls["cancel"].id] == org["sup1"].id
    assert assigned[calls["other_team"].id] is None, "another team's call is out of scope"
    html = queue(client, org["sup1"], "?assigned=me")
    assert "CALL-q1" in html and "sup1" in html
    assert AuditEvent.objects.filter(action="queue.assign").exists()
    with pytest.raises(QueueError):
        calls_assign(recording_ids=ids, reviewer_id=org["sup2"].id, user=org["sup1"])
    client.force_login(org["agent_user"])
    assert client.post("/calls/review/assign/", {"call": [str(ids[0])]}).status_code == 403


def test_the_calibration_sample_takes_a_share_of_each_agents_unflagged_calls(
    org: dict[str, Any],
) -> None:
    install()
    monday = timezone.localdate() - dt.timedelta(days=timezone.localdate().weekday())
    for agent in ("agent1", "agent2"):
        for n in range(30):
            call = analyzed_call(f"{agent}-{n}", org[agent], [(C, "查一下账单。")])
            Recording.objects.filter(id=call.id).update(
                started_at=timezone.make_aware(dt.datetime.combine(monday, dt.time(9, n))))
    assert review_sample_draw(week_of=monday, percent=5) == 4  # ceil(30 × 5 %) = 2 per agent
    assert review_sample_draw(week_of=monday, percent=5) == 0, "already at the target"
    sampled = CallScore.objects.filter(sampled=True)
    assert sampled.filter(recording__agent=org["agent1"]).count() == 2
    assert not sampled.filter(flagged=True).exists()
    assert review_sample_draw(week_of=monday - dt.timedelta(days=7), percent=5) == 0


def test_sampled_calls_join_the_queue_marked_as_samples(
    client: Client, org: dict[str, Any], calls: dict[str, Recording],
) -> None:
    CallScore.objects.filter(recording=calls["clean"]).update(sampled=True)
    html = queue(client, org["sup1"], "?kind=sampled")
    assert "CALL-q4" in html and "抽检" in html and "CALL-q1" not in html

"""Rule management pages, activation with re-analysis, backtests and re-analysis jobs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import (
    CallScore,
    Hit,
    ReanalysisJob,
    ReanalysisPartition,
    RuleSetVersion,
    RuleVersion,
)
from analytics.services import reanalysis
from analytics.services.rulesets import rule_save, rule_set_version_activate
from analytics.tests.packs import REFUND_RULE, analyzed_call, install, refund_pack
from qa_platform.models import AuditEvent

pytestmark = pytest.mark.django_db

C = "customer"
EVIL = {"key": "evil", "name": "回溯正则", "severity": "minor",
        "operators": {"1": {"type": "regex", "pattern": "(a+)+$", "timeout_s": 0.05}}}  # fmt: skip


@pytest.fixture
def pack() -> RuleSetVersion:
    return install()


def get(client: Client, user: Any, url: str) -> Any:
    client.force_login(user)
    return client.get(url)


def test_rule_pages_need_a_login_and_a_role(client: Client, org: dict[str, Any],
                                            pack: RuleSetVersion) -> None:  # fmt: skip
    assert "/accounts/login/" in client.get("/rules/")["Location"]
    for name in ("admin", "sup1", "auditor"):
        response = get(client, org[name], "/rules/")
        assert response.status_code == 200, name
        assert "退费诉求" in response.content.decode()
    assert get(client, org["agent_user"], "/rules/").status_code == 403
    assert get(client, org["nobody"], "/rules/").status_code == 403


def test_only_an_admin_may_save_a_rule(client: Client, org: dict[str, Any],
                                       pack: RuleSetVersion) -> None:  # fmt: skip
    rule_id = RuleVersion.objects.get().rule_id
    client.force_login(org["sup1"])
    response = client.post(f"/rules/{rule_id}/", {"document": json.dumps(REFUND_RULE)})
    assert response.status_code == 403
    page = client.get(f"/rules/{rule_id}/").content.decode()
    assert "保存为新版本" not in page and "试运行" in page


def test_an_invalid_rule_is_refused_with_chinese_messages(
    client: Client, org: dict[str, Any], pack: RuleSetVersion,
) -> None:
    rule_id = RuleVersion.objects.get().rule_id
    client.force_login(org["admin"])
    bad = dict(REFUND_RULE, operators={"1": {"type": "regex", "pattern": "退(费"}},
               condition="1 && 2")  # fmt: skip
    page = client.post(f"/rules/{rule_id}/", {"document": json.dumps(bad)}).content.decode()
    assert 'id="rule-errors"' in page and "正则" in page and "2" in page
    page = client.post(f"/rules/{rule_id}/", {"document": "{ 不是 JSON"}).content.decode()
    assert "不是有效的 JSON" in page
    assert RuleVersion.objects.count() == 1


def test_an_admin_saves_a_rule_into_a_draft_then_activates_it_with_re_analysis(
    client: Client, org: dict[str, Any], pack: RuleSetVersion,
    django_capture_on_commit_callbacks: Any,
) -> None:
    call = analyzed_call("r1", org["agent1"], [(C, "我要退款。")])
    assert not Hit.objects.filter(recording=call).exists()
    rule_id = RuleVersion.objects.get().rule_id
    client.force_login(org["admin"])
    widened = dict(REFUND_RULE, operators={"1": {"type": "keywords", "role": "customer",
                                                 "any": ["退费", "退款"]}})  # fmt: skip
    response = client.post(f"/rules/{rule_id}/", {"document": json.dumps(widened),
                                                  "comment": "加上退款"})  # fmt: skip
    assert response.status_code == 302
    draft = RuleSetVersion.objects.get(status="draft")
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):  # the job is queued on commit
        response = client.post(f"/rules/versions/{draft.id}/activate/", {
            "reanalyze": "1", "date_from": str(today - dt.timedelta(days=1)),
            "date_to": str(today),
        })  # fmt: skip
    assert response.status_code == 302
    job = ReanalysisJob.objects.get()
    assert (job.status, job.total, job.done, job.percent) == ("done", 1, 1, 100)
    assert job.partitions == 2 and all(job.parts.values_list("finished", flat=True))
    score = CallScore.objects.get(recording=call)
    assert score.rule_set_version_id == draft.id and score.labels["refund_request"] is True
    assert Hit.objects.get(recording=call).rule_version.number == 2
    progress = client.get(f"/rules/jobs/{job.id}/").json()
    assert (progress["status"], progress["percent"]) == ("done", 100)
    assert AuditEvent.objects.filter(action="reanalysis.start").exists()
    page = client.get("/rules/").content.decode()
    assert "已完成" in page
    pipeline = client.get("/pipeline/").content.decode()
    assert 'id="reanalysis-jobs"' in pipeline and f"/rules/jobs/{job.id}/" in pipeline


def test_a_stored_version_that_no_longer_compiles_is_refused_with_its_reasons(
    client: Client, org: dict[str, Any], pack: RuleSetVersion
) -> None:
    """Validation keeps such versions out; one edited in the database still gets a message,
    in the reader's language, instead of a server error."""
    rule_id = RuleVersion.objects.get().rule_id
    client.force_login(org["admin"])
    client.post(f"/rules/{rule_id}/", {"document": json.dumps(REFUND_RULE | {"name": "退费2"})})
    draft = RuleSetVersion.objects.get(status="draft")
    RuleVersion.objects.filter(rule_id=rule_id, number=2).update(
        document=REFUND_RULE | {"operators": {"1": {"type": "keywords", "any": []}}}
    )
    page = client.post(f"/rules/versions/{draft.id}/activate/", follow=True).content.decode()
    assert "关键词" in page
    draft.refresh_from_db()
    assert draft.status == "draft" and RuleSetVersion.objects.get(status="active") == pack
    client.post("/i18n/setlang/", {"language": "en", "next": "/rules/"})
    page = client.post(f"/rules/versions/{draft.id}/activate/", follow=True).content.decode()
    assert "keyword" in page.lower() and "关键词列表" not in page


def test_a_rule_that_fails_at_run_time_shows_on_its_page(client: Client,
                                                         org: dict[str, Any]) -> None:  # fmt: skip
    install(refund_pack(rules=[REFUND_RULE, EVIL]))
    call = analyzed_call("r2", org["agent1"], [(C, "a" * 5000 + "b"), (C, "我要退费。")])
    evil_id = RuleVersion.objects.get(rule__key="evil").rule_id
    page = get(client, org["sup1"], f"/rules/{evil_id}/").content.decode()
    assert 'id="run-errors"' in page and "超时" in page and f"/calls/{call.id}/" in page
    # The other team's supervisor does not see calls outside their scope listed.
    page = get(client, org["sup2"], f"/rules/{evil_id}/").content.decode()
    assert f"/calls/{call.id}/" not in page


def test_rule_names_and_documents_are_shown_as_text(client: Client, org: dict[str, Any]) -> None:
    install(refund_pack(rules=[dict(REFUND_RULE, name="<script>alert(1)</script>退费")]))
    rule_id = RuleVersion.objects.get().rule_id
    for url in ("/rules/", f"/rules/{rule_id}/"):
        page = get(client, org["admin"], url).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_backtest_counts_samples_and_estimates_precision_from_reviews(
    client: Client, org: dict[str, Any], pack: RuleSetVersion,
) -> None:
    calls = [analyzed_call(f"b{i}", org["agent1"], [(C, "我要退费。")]) for i in range(6)]
    analyzed_call("b9", org["agent1"], [(C, "查一下账单。")])
    Hit.objects.filter(recording__in=calls[:5]).update(review=Hit.Review.CONFIRMED)
    Hit.objects.filter(recording=calls[5]).update(review=Hit.Review.DISMISSED)
    rule_set_id = pack.rule_set_id
    client.force_login(org["sup1"])
    response = client.post(f"/rules/sets/{rule_set_id}/backtest/",
                           {"document": json.dumps(REFUND_RULE), "days": 7})  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200 and 'id="backtest-result"' in page
    assert "7 通已分析的通话" in page
    assert "0.83" in page and "确认 5，驳回 1" in page
    assert page.count('class="sample"') == 6
    assert RuleVersion.objects.count() == 1, "a backtest saves nothing"
    assert AuditEvent.objects.filter(action="rule.backtest").exists()
    # The other team's supervisor backtests over their own calls only.
    client.force_login(org["sup2"])
    page = client.post(f"/rules/sets/{rule_set_id}/backtest/",
                       {"document": json.dumps(REFUND_RULE), "days": 7}).content.decode()
    assert "0 通已分析的通话" in page
    client.force_login(org["auditor"])
    assert client.post(f"/rules/sets/{rule_set_id}/backtest/",
                       {"document": json.dumps(REFUND_RULE), "days": 7}).status_code == 403


def test_a_backtest_of_an_invalid_rule_says_why(client: Client, org: dict[str, Any],
                                                pack: RuleSetVersion) -> None:  # fmt: skip
    client.force_login(org["admin"])
    page = client.post(f"/rules/sets/{pack.rule_set_id}/backtest/", {
        "document": json.dumps(dict(REFUND_RULE, precondition={"rule": "nope"})), "days": 7,
    }).content.decode()  # fmt: skip
    assert 'id="backtest-errors"' in page and "不存在的规则" in page


def test_the_scorecard_page_refuses_bad_json_and_bad_references(
    client: Client, org: dict[str, Any], pack: RuleSetVersion,
) -> None:
    client.force_login(org["admin"])
    url = f"/rules/sets/{pack.rule_set_id}/scorecard/"
    page = client.post(url, {"labels": "{", "scorecard": "{}"}).content.decode()
    assert "不是有效的 JSON" in page
    page = client.post(url, {"labels": json.dumps({"x": {"rule": "gone", "true_when": "fired"}}),
                             "scorecard": json.dumps({"base": 100})}).content.decode()
    assert "不存在的规则" in page
    assert client.post(url, {"labels": json.dumps(refund_pack()["labels"]),
                             "scorecard": json.dumps({"base": 100}),
                             "comment": "去掉扣分"}).status_code == 302
    assert RuleSetVersion.objects.filter(status="draft").exists()


# -- re-analysis jobs --------------------------------------------------------------------------


def test_a_killed_re_analysis_resumes_where_it_stopped_and_counts_each_call_once(
    org: dict[str, Any], pack: RuleSetVersion,
) -> None:
    calls = [analyzed_call(f"k{i}", org["agent1"], [(C, "我要退款。")]) for i in range(5)]
    rule_save(rule_set=pack.rule_set, user=None, original_key="refund_request",
              document=dict(REFUND_RULE, operators={"1": {"type": "keywords", "role": "customer",
                                                          "any": ["退款"]}}))  # fmt: skip
    draft = RuleSetVersion.objects.get(status="draft")
    rule_set_version_activate(version=draft, user=None)
    today = timezone.localdate()
    job = ReanalysisJob.objects.create(rule_set_version=draft, date_from=today, date_to=today,
                                       total=5, status=ReanalysisJob.Status.RUNNING)  # fmt: skip
    part = ReanalysisPartition.objects.create(job=job, index=0)
    compiled = reanalysis.compiled_version(draft)
    first_two = [calls[0].id, calls[1].id]
    reanalysis._run_batch(job.id, part.id, first_two, compiled)  # then the worker dies
    reanalysis._run_batch(job.id, part.id, first_two, compiled)  # and the batch is redelivered
    part.refresh_from_db()
    assert (part.done, part.last_recording_id) == (2, calls[1].id)
    job, more = reanalysis.reanalysis_run(job_id=job.id, batch_size=2, seconds=None)
    assert (job.status, job.done, job.failed, more) == ("done", 5, 0, False)
    assert set(CallScore.objects.values_list("rule_set_version_id", flat=True)) == {draft.id}
    assert Hit.objects.filter(recording__in=calls).count() == 5
    # Running a finished job again does nothing.
    again, more = reanalysis.reanalysis_run(job_id=job.id)
    assert (again.done, more) == (5, False)


def test_activating_another_version_cancels_an_unfinished_re_analysis(
    org: dict[str, Any], pack: RuleSetVersion,
) -> None:
    today = timezone.localdate()
    job = ReanalysisJob.objects.create(rule_set_version=pack, date_from=today, date_to=today)
    rule_save(rule_set=pack.rule_set, user=None, original_key="refund_request",
              document=dict(REFUND_RULE, severity="major"))  # fmt: skip
    rule_set_version_activate(version=RuleSetVersion.objects.get(status="draft"), user=None)
    job.refresh_from_db()
    assert job.status == "cancelled" and "新版本" in job.error
    assert reanalysis.reanalysis_run(job_id=job.id)[1] is False


def test_a_stale_running_job_is_queued_again(org: dict[str, Any], pack: RuleSetVersion) -> None:
    call = analyzed_call("s1", org["agent1"], [(C, "我要退费。")])
    today = timezone.localdate()
    job = ReanalysisJob.objects.create(
        rule_set_version=pack, date_from=today, date_to=today, total=1, partitions=2,
        status=ReanalysisJob.Status.RUNNING,
        heartbeat_at=timezone.now() - reanalysis.STALE_AFTER - dt.timedelta(minutes=1),
    )  # fmt: skip
    # The share without the call already finished; the other one's worker died.
    ReanalysisPartition.objects.bulk_create(
        ReanalysisPartition(job=job, index=i, finished=i != call.id % 2) for i in range(2))
    assert reanalysis.reanalysis_resume_stale() == 1  # in-process: runs to the end at once
    job.refresh_from_db()
    assert (job.status, job.done) == ("done", 1)

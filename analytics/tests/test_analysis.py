"""The analysis stage with the real engine and database: versions, scores, hits, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from analytics.models import (
    CallScore,
    Hit,
    RuleRunError,
    RuleSetVersion,
    RuleVersion,
    ScorecardVersion,
)
from analytics.services.analysis import call_score_refresh, calls_analyze
from analytics.services.rulesets import (
    RuleSetError,
    active_compiled,
    rule_save,
    rule_set_version_activate,
    rulepack_load,
    rulepack_load_file,
    scorecard_save,
)
from analytics.tests.packs import REFUND_RULE, analyzed_call, install, refund_pack
from qa_platform.models import AuditEvent

pytestmark = pytest.mark.django_db

A, C = "agent", "customer"
OPEN = (A, "您好，信用卡中心，工号3307为您服务，请问有什么可以帮您？")
CLOSE = (A, "好的，请问还有其他可以帮您的吗？感谢您的来电，再见。")


def snapshot(recording_id: int) -> dict[str, Any]:
    """Everything the analysis stored for a call, minus ids and timestamps."""
    score = CallScore.objects.get(recording_id=recording_id)
    hits = sorted(
        (h.rule_id, h.rule_version_id, h.severity, h.reason, repr(h.evidence), h.occurrences,
         h.review) for h in Hit.objects.filter(recording_id=recording_id)
    )  # fmt: skip
    fields = ("score", "auto_score", "flagged", "flag_reasons", "items", "labels", "outcomes",
              "metrics", "sentiment", "segment_sentiment", "rule_versions",
              "rule_set_version_id")  # fmt: skip
    return {"hits": hits, **{f: getattr(score, f) for f in fields}}


# -- loading packs and versions ----------------------------------------------------------------


def test_load_rulepack_installs_and_activates_the_standard_pack() -> None:
    call_command("load_rulepack", "standard", verbosity=0)
    version = RuleSetVersion.objects.get(status=RuleSetVersion.Status.ACTIVE)
    assert version.rule_set.name == "standard" and version.number == 1
    assert version.rule_versions.count() == 13
    assert set(version.scorecard_version.labels) >= {"greeting", "customer_sentiment_end"}
    assert AuditEvent.objects.filter(action="ruleset.activate").exists()
    # Loading the same pack again changes nothing.
    call_command("load_rulepack", "standard", verbosity=0)
    assert RuleSetVersion.objects.count() == 1 and RuleVersion.objects.count() == 13


def test_a_changed_pack_makes_new_versions_only_of_what_changed() -> None:
    first = install()
    changed = refund_pack(rules=[dict(REFUND_RULE, severity="major")])
    second = rulepack_load(document=changed)
    assert (first.number, second.number) == (1, 2)
    first.refresh_from_db()
    assert (first.status, second.status) == ("retired", "active")
    numbers = sorted(RuleVersion.objects.values_list("number", "severity"))
    assert numbers == [(1, "minor"), (2, "major")]
    assert ScorecardVersion.objects.count() == 1, "the scorecard did not change"


def test_an_invalid_pack_is_refused_in_chinese() -> None:
    with pytest.raises(RuleSetError) as raised:
        rulepack_load(document=refund_pack(rules=[dict(REFUND_RULE, severity="huge")]))
    assert any("严重级别" in e for e in raised.value.errors)
    assert not RuleSetVersion.objects.exists()


# -- saving rules: refused with Chinese messages -----------------------------------------------


@pytest.fixture
def rule_set() -> Any:
    return install().rule_set


def keywords_rule(**changes: Any) -> dict[str, Any]:
    return {"key": "fee_talk", "name": "费用沟通", "severity": "info",
            "operators": {"1": {"type": "keywords", "role": "any", "any": ["手续费"]}},
            **changes}  # fmt: skip


@pytest.mark.parametrize(("document", "message"), [
    (keywords_rule(operators={"1": {"type": "regex", "pattern": "退(费"}}), "正则"),
    (keywords_rule(condition="1 && 2"), "2"),
    (keywords_rule(operators={"1": {"type": "keywords", "any": []}}), "关键词"),
    (keywords_rule(operators={"1": {"type": "keywords", "any": ["  "]}}), "关键词"),
    (keywords_rule(precondition={"rule": "no_such_rule"}), "不存在的规则"),
])  # fmt: skip
def test_a_bad_rule_is_refused_when_saved(rule_set: Any, document: dict[str, Any],
                                          message: str) -> None:  # fmt: skip
    with pytest.raises(RuleSetError) as raised:
        rule_save(rule_set=rule_set, document=document, user=None)
    assert any(message in e for e in raised.value.errors), raised.value.errors
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e) for e in raised.value.errors)
    assert not RuleVersion.objects.filter(rule__key="fee_talk").exists()


def test_a_circular_precondition_is_refused(rule_set: Any) -> None:
    rule_save(rule_set=rule_set, document=keywords_rule(), user=None)
    # refund_request requires fee_talk: fine on its own.
    rule_save(rule_set=rule_set, document=dict(REFUND_RULE, precondition={"rule": "fee_talk"}),
              user=None, original_key="refund_request")  # fmt: skip
    # fee_talk requiring refund_request would close the loop.
    with pytest.raises(RuleSetError) as loop:
        rule_save(rule_set=rule_set, user=None, original_key="fee_talk",
                  document=keywords_rule(precondition={"rule": "refund_request"}))  # fmt: skip
    assert any("循环" in e for e in loop.value.errors), loop.value.errors


def test_a_rules_key_cannot_be_renamed_and_a_new_key_must_be_new(rule_set: Any) -> None:
    with pytest.raises(RuleSetError, match="不能修改规则标识"):
        rule_save(rule_set=rule_set, document=keywords_rule(), user=None,
                  original_key="refund_request")  # fmt: skip
    with pytest.raises(RuleSetError, match="已存在"):
        rule_save(rule_set=rule_set, document=dict(REFUND_RULE), user=None)


def test_an_edit_goes_into_a_draft_and_only_activation_changes_what_runs(rule_set: Any) -> None:
    active = RuleSetVersion.objects.get(status="active")
    version = rule_save(rule_set=rule_set, document=dict(REFUND_RULE, severity="major"),
                        user=None, comment="提高严重程度", original_key="refund_request")
    assert version.number == 2
    draft = RuleSetVersion.objects.get(status="draft")
    assert draft.number == active.number + 1
    assert active_compiled().version_id == active.id  # type: ignore[union-attr]
    # A second edit updates the same draft rather than piling up drafts.
    rule_save(rule_set=rule_set, document=keywords_rule(), user=None)
    assert RuleSetVersion.objects.filter(status="draft").count() == 1
    assert draft.rule_versions.count() == 2
    rule_set_version_activate(version=draft, user=None)
    assert active_compiled().version_id == draft.id  # type: ignore[union-attr]
    assert AuditEvent.objects.filter(action="rule.save").count() == 2


def test_a_label_cannot_lose_its_rule_through_a_scorecard_edit(rule_set: Any) -> None:
    with pytest.raises(RuleSetError) as raised:
        scorecard_save(rule_set=rule_set, user=None,
                       labels={"x": {"rule": "gone", "true_when": "fired"}},
                       document={"base": 100})  # fmt: skip
    assert any("不存在的规则" in e for e in raised.value.errors)


# -- the analyze stage -------------------------------------------------------------------------


def test_a_call_is_scored_with_evidence_and_the_versions_it_used(org: dict[str, Any]) -> None:
    version = rulepack_load_file(name_or_path="standard")
    call = analyzed_call("1", org["agent1"], [
        OPEN, (C, "我想问一下这个年费能不能给我退了，我要退费。"),
        (A, "这个我也没办法，你自己看着办吧。"), CLOSE,
    ])  # fmt: skip
    assert call.status == "analyzed"
    score = CallScore.objects.get(recording=call)
    assert score.rule_set_version_id == version.id
    assert score.scorecard_version_id == version.scorecard_version_id
    assert score.rule_versions == {rv.rule.key: rv.number
                                   for rv in version.rule_versions.select_related("rule")
                                   if rv.rule.key != "customer_negative_end"}
    assert score.labels["refund_request"] is True
    assert score.labels["forbidden_language"] is True
    assert score.score == 85 and score.flagged is False
    assert {i["key"]: i["lost"] for i in score.items}["forbidden_language"] == 15
    assert set(score.pending_manual) == {"business_accuracy", "service_attitude",
                                         "customer_privacy"}  # fmt: skip
    assert score.metrics["silence"]["max_gap_ms"] == 500.0
    assert score.customer_sentiment_end in ("negative", "neutral", "positive")
    hit = Hit.objects.get(recording=call, rule__key="forbidden_language")
    segment = hit.segment
    assert segment is not None and segment.role == "agent"
    for evidence in hit.evidence:
        assert segment.text[evidence["char_start"]:evidence["char_end"]] == evidence["text"]
    assert hit.rule_version.number == 1 and "没办法" in hit.reason + hit.matched_text


def test_a_critical_failure_scores_zero_and_flags(org: dict[str, Any]) -> None:
    rulepack_load_file(name_or_path="standard")
    call = analyzed_call("2", org["agent1"], [
        OPEN, (A, "这款理财产品保证收益，稳赚不赔。"), CLOSE,
    ])  # fmt: skip
    score = CallScore.objects.get(recording=call)
    assert (score.score, score.flagged, score.critical) == (0, True, True)
    assert any("严重项" in reason for reason in score.flag_reasons)
    assert score.severity_rank == 3


def test_analyzing_again_changes_nothing(org: dict[str, Any]) -> None:
    version = rulepack_load_file(name_or_path="standard")
    call = analyzed_call("3", org["agent1"], [OPEN, (C, "我要退费，不然我就投诉到银保监。"), CLOSE])
    before = snapshot(call.id)
    compiled = active_compiled()
    assert compiled is not None and compiled.version_id == version.id
    assert calls_analyze(recording_ids=[call.id], compiled=compiled) == 1
    assert calls_analyze(recording_ids=[call.id], compiled=compiled) == 1
    assert snapshot(call.id) == before
    assert CallScore.objects.count() == 1


def test_a_reviewers_decisions_survive_re_analysis_and_change_the_score(
    org: dict[str, Any],
) -> None:
    install()
    call = analyzed_call("4", org["agent1"], [(C, "我要退费。")])
    score = CallScore.objects.get(recording=call)
    assert (score.score, score.flagged) == (90, True)
    Hit.objects.filter(recording=call).update(review=Hit.Review.DISMISSED, review_comment="误报")
    CallScore.objects.filter(recording=call).update(manual={"attitude": "fail"},
                                                    assigned_to=org["sup1"], sampled=True)
    refreshed = call_score_refresh(recording_id=call.id)
    assert (refreshed.score, refreshed.flagged, refreshed.hit_count) == (95, False, 0)
    compiled = active_compiled()
    assert compiled is not None
    calls_analyze(recording_ids=[call.id], compiled=compiled)
    again = CallScore.objects.get(recording=call)
    assert (again.score, again.flagged, again.manual) == (95, False, {"attitude": "fail"})
    assert (again.assigned_to, again.sampled) == (org["sup1"], True)
    hit = Hit.objects.get(recording=call)
    assert (hit.review, hit.review_comment) == ("dismissed", "误报")


def test_a_rule_that_fails_at_run_time_is_skipped_recorded_and_the_rest_still_run(
    org: dict[str, Any],
) -> None:
    evil = {"key": "evil", "name": "回溯正则", "severity": "minor",
            "operators": {"1": {"type": "regex", "pattern": "(a+)+$", "timeout_s": 0.05}}}
    install(refund_pack(rules=[REFUND_RULE, evil]))
    call = analyzed_call("5", org["agent1"], [(C, "a" * 5000 + "b"), (C, "我要退费。")])
    assert call.status == "analyzed"
    error = RuleRunError.objects.get(rule__key="evil")
    assert error.recording_id == call.id and "超时" in error.message
    score = CallScore.objects.get(recording=call)
    assert "evil" in score.rule_errors and score.labels["refund_request"] is True


def test_without_an_active_rule_set_calls_still_finish(org: dict[str, Any]) -> None:
    call = analyzed_call("6", org["agent1"], [(C, "我要退费。")])
    assert call.status == "analyzed"
    assert not CallScore.objects.exists() and not Hit.objects.exists()


def test_re_analysis_reuses_metrics_and_sentiment_only_while_the_transcript_is_unchanged(
    org: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from analytics.services import analysis
    from transcription.models import Segment

    rulepack_load_file(name_or_path="standard")
    call = analyzed_call("7", org["agent1"], [OPEN, (C, "太差劲了，我很生气。"), CLOSE])
    before = CallScore.objects.get(recording=call)
    computed: list[int] = []
    real = analysis.call_sentiment

    def counting(call: Any) -> Any:
        computed.append(len(call.segments))
        return real(call)

    monkeypatch.setattr(analysis, "call_sentiment", counting)
    compiled = active_compiled()
    assert compiled is not None
    calls_analyze(recording_ids=[call.id], compiled=compiled)
    again = CallScore.objects.get(recording=call)
    assert computed == [] and again.features_key == before.features_key
    assert (again.sentiment, again.metrics) == (before.sentiment, before.metrics)
    # An edited transcript is a different transcript: everything is computed again.
    Segment.objects.filter(transcript__recording=call, index=1).update(text="好的，谢谢你。")
    calls_analyze(recording_ids=[call.id], compiled=compiled)
    edited = CallScore.objects.get(recording=call)
    assert computed == [3] and edited.features_key != before.features_key
    assert edited.segment_sentiment != before.segment_sentiment


def test_after_a_one_rule_edit_re_analysis_rewrites_only_that_rules_hits(
    org: dict[str, Any],
) -> None:
    cancel = {"key": "cancel", "name": "销户", "severity": "info",
              "operators": {"1": {"type": "keywords", "role": "customer", "any": ["销户"]}}}
    version = install(refund_pack(rules=[REFUND_RULE, cancel]))
    call = analyzed_call("8", org["agent1"], [(C, "我要退费，然后销户。")])
    before = {h.rule.key: h.id for h in Hit.objects.filter(recording=call).select_related("rule")}
    assert set(before) == {"refund_request", "cancel"}
    rule_save(rule_set=version.rule_set, user=None, original_key="cancel",
              document=dict(cancel, severity="major"))  # fmt: skip
    draft = RuleSetVersion.objects.get(status="draft")
    rule_set_version_activate(version=draft, user=None)
    compiled = active_compiled()
    assert compiled is not None and compiled.version_id == draft.id
    calls_analyze(recording_ids=[call.id], compiled=compiled)
    after = {h.rule.key: h for h in Hit.objects.filter(recording=call).select_related("rule")}
    assert after["refund_request"].id == before["refund_request"], "unchanged rule: kept as is"
    assert after["cancel"].id != before["cancel"] and after["cancel"].severity == "major"
    assert CallScore.objects.get(recording=call).rule_set_version_id == draft.id

"""The rule benchmark's generators (benchmarks/rules.py): valid rules, calls of the promised shape,
and a naive baseline that agrees with the engine where their semantics coincide. No timing."""

from collections import Counter
from itertools import pairwise
from typing import Any

import pytest

from analytics.rules.engine import CompiledRuleSet, compile_rule_set
from benchmarks import rules as bench
from transcription.asr.itn import normalize


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return bench.generate_rules()


@pytest.fixture(scope="module")
def rule_set(docs: list[dict[str, Any]]) -> CompiledRuleSet:
    return compile_rule_set(docs, version="bench")


@pytest.fixture(scope="module")
def calls() -> list[Any]:
    return bench.generate_calls(60)


def test_the_rules_are_valid_and_mixed_as_promised(
    docs: list[dict[str, Any]], rule_set: CompiledRuleSet
) -> None:
    assert len(docs) == len(rule_set.rules) == bench.RULES == 500
    mix = bench.rule_mix(docs)
    assert mix["rules_by_kind"] == bench.RULE_MIX
    for kind in ("regex", "proximity", "negation", "pinyin"):
        assert mix["rules_by_kind"][kind] >= 50
    assert mix["operators_by_type"]["order"] >= 10
    assert {"silence", "interruption", "speech_rate", "sentiment"} <= set(mix["operators_by_type"])
    features = mix["features"]
    for feature in ("regex_with_exclude", "inline_preconditions", "rule_preconditions",
                    "multi_operator_conditions", "windowed_operators"):
        assert features[feature] >= 10, feature
    assert mix["distinct_keywords"] >= 1500
    assert len({doc["key"] for doc in docs}) == len({doc["id"] for doc in docs}) == 500


def test_the_keyword_vocabulary_has_a_few_thousand_phrases() -> None:
    vocabulary = bench.keyword_vocabulary()
    words = {w for words in vocabulary.values() for w in words}
    assert len(words) >= 2000
    assert all(normalize(w) == w for w in words)  # rules and text agree on written numbers


def test_generators_are_deterministic(docs: list[dict[str, Any]]) -> None:
    assert bench.generate_rules() == docs
    assert bench.generate_call(17) == bench.generate_call(17)
    assert bench.generate_call(17) != bench.generate_call(18)
    assert bench.generate_calls(3, start=5) == [bench.generate_call(i) for i in range(5, 8)]


def test_calls_have_the_promised_shape(calls: list[Any]) -> None:
    layouts = Counter(call.channel_layout for call in calls)
    assert layouts["stereo"] > layouts["mono"] > 0
    assert any(s.role == "unknown" for call in calls for s in call.segments)
    for call in calls:
        low, high = bench.SEGMENTS_PER_CALL
        assert low <= len(call.segments) <= high
        chars = sum(len(s.text) for s in call.segments)
        assert bench.CHARS_PER_CALL[0] - 40 <= chars <= bench.CHARS_PER_CALL[1] + 40
        assert 270_000 <= call.duration_ms <= 330_000
        starts = [s.start_ms for s in call.segments]
        assert starts == sorted(starts) and starts[0] >= 0
        assert all(0 <= s.start_ms < s.end_ms <= call.duration_ms for s in call.segments)
        assert [s.id for s in call.segments] == list(range(1, len(call.segments) + 1))
        if call.channel_layout == "mono":  # one channel: nobody talks over anybody
            assert all(a.end_ms <= b.start_ms for a, b in pairwise(call.segments))
        roles = [s.role for s in call.segments if s.role != "unknown"]
        if roles:
            assert roles[0] == "agent"
            switches = sum(a != b for a, b in pairwise(roles))
            assert switches >= 0.8 * (len(roles) - 1)  # mostly alternating
        assert all(normalize(s.text) == s.text for s in call.segments)
    text = "".join(s.text for call in calls for s in call.segments)
    assert any(heard in text for heard in bench.HOMOPHONES.values())  # ASR homophones
    assert any(ch.isdigit() for ch in text)


def test_a_realistic_share_of_rules_fires(rule_set: CompiledRuleSet, calls: list[Any]) -> None:
    fired = [sum(o.fired for o in rule_set.evaluate(call)) for call in calls[:20]]
    assert all(0 < n < 0.5 * len(rule_set.rules) for n in fired)
    assert not any(o.error for call in calls[:5] for o in rule_set.evaluate(call))


def test_the_naive_baseline_agrees_on_simple_keyword_rules(
    docs: list[dict[str, Any]], rule_set: CompiledRuleSet, calls: list[Any]
) -> None:
    simple = set(bench.simple_keyword_rules(docs))
    assert len(simple) >= 30
    naive = bench.NaiveRuleSet(docs)
    fired_somewhere: set[str] = set()
    for call in calls[:8]:
        ours = {o.rule_key: o for o in rule_set.evaluate(call)}
        theirs = {o.rule_key: o for o in naive.evaluate(call)}
        assert ours.keys() == theirs.keys()
        for key in simple:
            assert (ours[key].applies, ours[key].fired) == (theirs[key].applies, theirs[key].fired)
            if ours[key].fired:
                fired_somewhere.add(key)
    assert len(fired_somewhere) >= 5  # the agreement is not only on rules that never fire

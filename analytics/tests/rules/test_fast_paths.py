"""The engine's shortcuts give exactly what the plain computation gives."""

import random
from typing import Any

import pytest
import regex

from analytics.rules import external_ops, sentiment
from analytics.rules.engine import compile_rule_set
from analytics.rules.expr import And, Expr, Not, Or, Ref, evaluate, justify, value
from analytics.rules.regex_prefilter import context_free
from analytics.rules.sentiment import LazyCallSentiment, call_sentiment, evaluate_sentiment
from analytics.rules.text_ops import RegexEval
from analytics.rules.types import Call, Evidence, OperatorResult, Seg
from analytics.tests.rules.factories import rule
from benchmarks import rules as bench

TURNS = [
    ("agent", "您好，请问有什么可以帮您？"),
    ("customer", "你们这个服务太差了，我很生气！"),
    ("agent", "非常抱歉给您带来不便。"),
    ("customer", "我都打了三次电话了，还是没人管。"),
    ("agent", "我这边马上帮您处理。"),
    ("customer", "好吧，谢谢你。"),
    ("customer", "嗯。"),
    ("agent", "感谢您的耐心，祝您生活愉快。"),
    ("customer", "好的，非常满意，谢谢！"),
]
CALL = Call(
    segments=tuple(
        Seg(id=i, role=role, start_ms=i * 4000, end_ms=i * 4000 + 3000, text=text)
        for i, (role, text) in enumerate(TURNS, 1)
    )
)
SPECS = [
    {"type": "sentiment", "role": role, "scope": scope, "turns": turns, **label}
    for role in ("agent", "customer")
    for scope in ("start", "end", "overall", "drop")
    for turns in (1, 2, 3, 10)
    for label in (
        [{"label": x} for x in ("negative", "neutral", "positive")]
        + ([{}] if scope == "drop" else [])
    )
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_lazy_sentiment_gives_what_the_whole_call_sentiment_gives(spec: dict[str, Any]) -> None:
    eager = evaluate_sentiment(spec, CALL, call_sentiment(CALL))
    assert evaluate_sentiment(spec, CALL, LazyCallSentiment(CALL)) == eager


def test_lazy_sentiment_scores_only_the_turns_read(monkeypatch: pytest.MonkeyPatch) -> None:
    scored: list[str] = []
    real = sentiment.score_text

    def counting(text: str, emotion: str = "") -> tuple[float, str]:
        scored.append(text)
        return real(text, emotion)

    monkeypatch.setattr(sentiment, "score_text", counting)
    lazy = LazyCallSentiment(CALL)
    spec = {"type": "sentiment", "role": "customer", "scope": "end", "label": "positive"}
    evaluate_sentiment(spec, CALL, lazy)
    evaluate_sentiment({**spec, "label": "negative"}, CALL, lazy)  # same turns: not rescored
    assert scored == [text for _role, text in TURNS[-4:] if _role == "customer"]


def test_a_role_that_never_speaks_is_not_applicable_either_way() -> None:
    agent_only = Call(segments=CALL.segments[:1])
    spec = {"type": "sentiment", "role": "customer", "scope": "end", "label": "neutral"}
    lazy = evaluate_sentiment(spec, agent_only, LazyCallSentiment(agent_only))
    assert lazy == evaluate_sentiment(spec, agent_only, call_sentiment(agent_only))
    assert lazy.values == {"applicable": 0.0}


def test_the_engine_hands_operators_the_lazy_view() -> None:
    assert isinstance(external_ops.call_sentiment(CALL), LazyCallSentiment)


# -- regexes without literals: the whole-call search that rules segments out -----------------

ALPHABET = "ab甲乙，"
PIECES = ("a", "b", "甲", "乙", ".", "[ab]", "[^，]", r"\p{Han}", "(a|乙)", "(?:b|甲甲)", "(甲)")


def random_pattern(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        piece = rng.choice(PIECES)
        quantifier = rng.choice(("", "", "+", "*", "?", "{1,3}", "+?", "{2}"))
        parts.append(piece + quantifier)
    pattern = "".join(parts)
    if "(甲)" in pattern and rng.random() < 0.5:
        pattern += r"\1"  # a backreference: to text inside the match
    if rng.random() < 0.3:
        pattern += "|" + rng.choice(PIECES) + rng.choice(PIECES)
    return pattern


def random_call(rng: random.Random) -> Call:
    segments = []
    for i in range(rng.randint(1, 8)):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
        role = rng.choice(("agent", "customer"))
        segments.append(Seg(id=i + 1, role=role, start_ms=i * 1000, end_ms=i * 1000 + 900,
                            text=text))
    return Call(segments=tuple(segments))


def test_the_whole_call_search_only_rules_out_segments_without_a_match() -> None:
    rng = random.Random(7)
    checked = 0
    while checked < 400:
        pattern = random_pattern(rng)
        if regex.compile(pattern).search("") is not None:
            continue  # rejected by validation
        assert context_free(pattern), pattern
        for role in ("any", "agent"):
            op = {"type": "regex", "role": role, "pattern": pattern}
            rule_set = compile_rule_set([rule("r", op1=op)], version="t")
            (compiled,) = (o for o in _operators(rule_set) if isinstance(o, RegexEval))
            for _ in range(5):
                call = random_call(rng)
                compiled._scout = True  # also behind a literal prefilter, to test it more
                scouted = rule_set.evaluate(call)
                compiled._scout = False
                assert scouted == rule_set.evaluate(call), (pattern, call)
        checked += 1


def test_a_whole_call_search_that_times_out_leaves_the_verdict_to_each_segment() -> None:
    slow = "a" * 5000
    call = Call(segments=(Seg(1, "agent", 0, 1000, "好的"), Seg(2, "agent", 1000, 2000, slow)))
    op = {"type": "regex", "pattern": "(a+)+b", "timeout_s": 0.01}
    (outcome,) = compile_rule_set([rule("slow", op1=op)], version="t").evaluate(call)
    assert "超时" in outcome.error and "片段 2" in outcome.error


def _operators(rule_set: Any) -> list[Any]:
    return [op for r in rule_set._rules for op in r.body.operators.values()]


# -- precomputed outcomes and lazily gathered evidence ---------------------------------------


def test_keeping_precomputed_outcomes_is_exact_on_the_benchmark_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule_set = compile_rule_set(bench.generate_rules(), version="t")
    calls = bench.generate_calls(12, start=100)
    skipping = [rule_set.evaluate(call) for call in calls]
    every_rule = set(range(len(rule_set.rules)))
    monkeypatch.setattr(rule_set, "_touched", lambda ctx: every_rule)  # decide every rule
    assert [rule_set.evaluate(call) for call in calls] == skipping


def random_expr(rng: random.Random, depth: int = 0) -> Expr:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return Ref(rng.randint(1, 4))
    if roll < 0.5:
        return Not(random_expr(rng, depth + 1))
    kind = And if roll < 0.75 else Or
    return kind(random_expr(rng, depth + 1), random_expr(rng, depth + 1))


def test_value_and_justify_mirror_evaluate() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        results = {
            n: OperatorResult(rng.random() < 0.5, tuple(Evidence(n, i) for i in range(n % 3)))
            for n in range(1, 5)
        }
        _check_mirrors(random_expr(rng), results)


def _check_mirrors(expr: Expr, results: dict[int, OperatorResult]) -> None:
    asked: list[list[int]] = [[], [], []]

    def result_of(n: int, log: list[int]) -> OperatorResult:
        log.append(n)
        return results[n]

    holds, evidence = evaluate(expr, lambda n: result_of(n, asked[0]))
    assert value(expr, lambda n: result_of(n, asked[1]).matched) == holds
    justified, refs = justify(expr, lambda n: result_of(n, asked[2]).matched)
    assert justified == holds
    assert tuple(e for n in refs for e in results[n].evidence) == evidence
    assert asked[0] == asked[1] == asked[2]  # same operators, same order, same laziness

"""The engine's shortcuts give exactly what the plain computation gives."""

from typing import Any

import pytest

from analytics.rules import external_ops, sentiment
from analytics.rules.sentiment import LazyCallSentiment, call_sentiment, evaluate_sentiment
from analytics.rules.types import Call, Seg

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

"""Which of two diarized speakers on a mono recording is the agent.

A pure function over ``(speaker label, start_ms, text)`` turns, so it is tested
without models: the speaker whose first turns greet and introduce themselves the
way agents do (您好 … 工号 / 为您服务 / 客服) is the agent; when neither or both do,
a configured fallback decides (by default, the first speaker to talk).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence

from transcription.asr.base import ROLE_AGENT, ROLE_CUSTOMER, ROLE_UNKNOWN

FALLBACK_FIRST = "first"  # the first speaker to talk is the agent (agents answer with a greeting)
FALLBACK_SECOND = "second"  # the second speaker is the agent (outbound: the customer answers)
FALLBACK_UNKNOWN = "unknown"  # leave both speakers "unknown"
FALLBACKS = (FALLBACK_FIRST, FALLBACK_SECOND, FALLBACK_UNKNOWN)
# Only a speaker's opening turns count: later both sides may repeat any phrase.
EARLY_TURNS = 3
# (pattern, weight): self-identification weighs more than a bare greeting, which
# customers say too ("喂，你好").
AGENT_CUES: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"工号"), 3),
    (re.compile(r"(很高兴|竭诚)?为您服务"), 3),
    (re.compile(r"客服|坐席|话务员"), 3),
    (re.compile(r"(有什么|什么)(可以|能)(帮|为)您"), 2),
    (re.compile(r"这里是|欢迎(致电|来电)"), 2),
    (re.compile(r"您好|你好"), 1),
)
# A customer asking for the agent's number ("你工号多少") or for the service desk
# ("我找客服") mentions the same words; those turns count against the speaker.
CUSTOMER_CUES: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"你的?工号|工号(是)?多少|什么工号"), 4),
    (re.compile(r"转人工|找客服|你们客服|是客服吗|是不是客服"), 4),
)
_SPACE = re.compile(r"\s+")

Turn = tuple[Hashable, int, str]


def agent_score(texts: Iterable[str]) -> int:
    """How strongly these opening turns sound like an agent (negative: like a customer)."""
    score = 0
    for text in texts:
        text = _SPACE.sub("", text)
        penalty = sum(weight for pattern, weight in CUSTOMER_CUES if pattern.search(text))
        bonus = sum(weight for pattern, weight in AGENT_CUES if pattern.search(text))
        score += bonus - penalty
    return score


def assign_roles(turns: Sequence[Turn], fallback: str = FALLBACK_FIRST) -> dict[Hashable, str]:
    """Map each speaker label in ``turns`` to "agent", "customer" (or "unknown").

    The agent is the speaker with the higher ``agent_score`` over their first
    ``EARLY_TURNS`` turns; a tie goes to ``fallback`` ("first", "second" or
    "unknown"). With a single speaker, that speaker plays the role the first
    speaker of a two-party call would. Raises ValueError for an unknown fallback.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"unknown mono fallback {fallback!r}; expected one of {FALLBACKS}")
    order = sorted(turns, key=lambda t: t[1])
    speakers: list[Hashable] = list(dict.fromkeys(label for label, _, _ in order))
    if not speakers:
        return {}
    early: dict[Hashable, list[str]] = {s: [] for s in speakers}
    for label, _, text in order:
        if len(early[label]) < EARLY_TURNS and text.strip():
            early[label].append(text)
    scores = {s: agent_score(early[s]) for s in speakers}
    best = max(scores.values())
    leaders = [s for s in speakers if scores[s] == best]
    if best > 0 and len(leaders) == 1:
        return _roles(speakers, leaders[0])
    if len(speakers) == 2 and best <= 0 and min(scores.values()) < 0:
        # Nobody introduced themselves but one asked for the agent: the other one is it.
        customer = min(speakers, key=lambda s: scores[s])
        return _roles(speakers, next(s for s in speakers if s != customer))
    if fallback == FALLBACK_UNKNOWN:
        return dict.fromkeys(speakers, ROLE_UNKNOWN)
    if fallback == FALLBACK_SECOND and len(speakers) > 1:
        return _roles(speakers, speakers[1])
    return _roles(speakers, speakers[0])


def _roles(speakers: Sequence[Hashable], agent: Hashable) -> dict[Hashable, str]:
    """The agent label gets ROLE_AGENT, every other label ROLE_CUSTOMER."""
    return {s: ROLE_AGENT if s == agent else ROLE_CUSTOMER for s in speakers}


def roles_for_turns(turns: Sequence[Turn], fallback: str = FALLBACK_FIRST) -> list[str]:
    """The role of each turn, in the order given (convenience over ``assign_roles``)."""
    mapping: Mapping[Hashable, str] = assign_roles(turns, fallback)
    return [mapping[label] for label, _, _ in turns]

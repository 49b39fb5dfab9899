"""Plain data the rule engine works on and returns. No Django here.

A call is a list of segments (one turn of one speaker each, times in ms from the
start of the call). Operators look at a call and say whether they matched, with
evidence; conditions combine numbered operators; rules combine conditions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLE_AGENT = "agent"
ROLE_CUSTOMER = "customer"
ROLE_ANY = "any"


@dataclass(frozen=True)
class Seg:
    """One turn. `text` is the display text (punctuated, numbers normalised)."""

    id: int
    role: str  # "agent" | "customer" | "unknown"
    start_ms: int
    end_ms: int
    text: str
    raw_text: str = ""
    emotion: str = ""  # SenseVoice tag when the engine gave one: "angry", "happy", ...


@dataclass(frozen=True)
class Call:
    segments: tuple[Seg, ...]
    channel_layout: str = "stereo"  # "stereo" | "mono"
    duration_ms: int = 0

    @property
    def end_ms(self) -> int:
        return max((s.end_ms for s in self.segments), default=0) or self.duration_ms


@dataclass(frozen=True)
class Evidence:
    """Where an operator matched: a span in a segment, or a stretch of time."""

    segment_id: int | None
    char_start: int = 0
    char_end: int = 0
    start_ms: int = 0
    end_ms: int = 0
    text: str = ""
    note: str = ""  # Chinese, e.g. "静音 12.3 秒"


@dataclass(frozen=True)
class OperatorResult:
    matched: bool
    evidence: tuple[Evidence, ...] = ()
    # Numbers worth keeping, e.g. {"rate_cpm": 312.5}.
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A rule that fired on a call, with the evidence for it."""

    rule_id: int
    rule_key: str
    severity: str
    reason: str  # Chinese, from the rule's explanation template
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class RuleOutcome:
    """Every rule's verdict on one call, including the ones that did not apply."""

    rule_id: int
    rule_key: str
    applies: bool  # False when the rule's precondition did not hold
    fired: bool
    hit: Hit | None = None
    error: str = ""  # the rule raised at run time: skipped for this call, others still ran

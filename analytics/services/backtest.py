"""Backtest: run a draft rule over the last N days of calls without saving anything.

The draft is validated together with the rule set it would join (so its precondition can name
another rule). Only the draft and the rules its precondition chain needs are compiled and run.
The estimated precision comes from reviewers' past decisions on similar hits: reviewed hits on
the same call whose evidence shares a segment with the draft's evidence — those of the rule
being edited when there are any, otherwise of any rule. Confirmed counts as right, dismissed as
wrong. It is an estimate and says how many decisions it rests on.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q
from django.utils import timezone

from analytics.models import Hit, RuleSet
from analytics.rules.engine import compile_rule_set
from analytics.rules.spec import RuleSpecError
from analytics.rules.types import RuleOutcome
from analytics.selectors import calls_visible
from analytics.services.analysis import load_calls
from analytics.services.rulesets import (
    RuleSetError,
    current_content,
    documents_of,
    rule_body,
    validate_pack,
)
from qa_i18n import msg
from qa_platform.audit import audit_record
from transcription.models import Recording, Segment

User = AbstractBaseUser | AnonymousUser

MAX_DAYS = 366
MIN_DECISIONS = 5  # fewer reviewed similar hits than this: no estimate is shown
_BATCH = 500


@dataclass
class BacktestResult:
    rule_key: str
    days: int
    calls: int = 0
    applies: int = 0
    fired: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    confirmed: int = 0
    dismissed: int = 0
    basis: str = ""  # "same_rule" | "any_rule" | ""
    previously_fired: int = 0  # calls where the saved version of this rule fired
    lost_confirmed: int = 0  # calls with a confirmed hit of the saved rule the draft misses
    elapsed_s: float = 0.0
    truncated: bool = False

    @property
    def precision(self) -> float | None:
        decided = self.confirmed + self.dismissed
        return self.confirmed / decided if decided >= MIN_DECISIONS else None

    @property
    def decisions(self) -> int:
        return self.confirmed + self.dismissed


def _chain(docs: Mapping[str, dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The rule and every rule its precondition names, transitively (validated: no cycles)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = key
    while current and current not in seen and current in docs:
        seen.add(current)
        doc = docs[current]
        out.append(doc)
        pre = doc.get("precondition")
        current = pre.get("rule") if isinstance(pre, dict) and set(pre) == {"rule"} else None
    return out


def rule_backtest(
    *, rule_set: RuleSet, document: Mapping[str, Any], days: int, user: User,
    sample_size: int = 20, max_calls: int = 50_000,
) -> BacktestResult:  # fmt: skip
    """Counts, sample hits with evidence and an estimated precision. Raises RuleSetError."""
    started = time.monotonic()
    if not 1 <= days <= MAX_DAYS:
        raise RuleSetError([msg("天数必须在 1 到 {max} 之间", max=MAX_DAYS)])
    body = rule_body(document)
    key = body.get("key")
    current, scorecard = current_content(rule_set)
    docs = documents_of(current)
    if not isinstance(key, str):
        raise RuleSetError([msg("规则缺少 key")])
    docs[key] = body
    if scorecard is not None:
        validate_pack(rule_set, [{**d, "id": i} for i, d in enumerate(docs.values())],
                  scorecard.labels, scorecard.document)  # fmt: skip
    chain = _chain(docs, key)
    try:
        rule_set_compiled = compile_rule_set([{**d, "id": i} for i, d in enumerate(chain)],
                                             version=f"backtest:{key}")  # fmt: skip
    except RuleSpecError as exc:
        raise RuleSetError(exc.errors) from None

    since = timezone.now() - dt.timedelta(days=days)
    calls = (calls_visible(user=user)
             .filter(status=Recording.Status.ANALYZED)
             .filter(Q(started_at__gte=since) | Q(started_at__isnull=True, created_at__gte=since))
             .order_by("-id"))  # fmt: skip
    result = BacktestResult(rule_key=key, days=days)
    saved_rule = current.get(key)
    fired_evidence: dict[int, frozenset[int]] = {}
    confirmed_calls: set[int] = set()
    ids = list(calls.values_list("id", flat=True)[: max_calls + 1])
    result.truncated = len(ids) > max_calls
    ids = ids[:max_calls]
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        if saved_rule is not None:
            saved = Hit.objects.filter(rule_id=saved_rule.rule_id, recording_id__in=batch)
            result.previously_fired += saved.values("recording_id").distinct().count()
            confirmed_calls.update(saved.filter(review=Hit.Review.CONFIRMED)
                                   .values_list("recording_id", flat=True))  # fmt: skip
        for recording_id, call in load_calls(batch).items():
            outcome = _outcome_of(rule_set_compiled.evaluate(call), key)
            result.calls += 1
            if outcome.error:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(outcome.error)
                continue
            result.applies += outcome.applies
            if outcome.hit is None:
                continue
            result.fired += 1
            fired_evidence[recording_id] = frozenset(
                e.segment_id for e in outcome.hit.evidence if e.segment_id is not None
            )
            if len(result.samples) < sample_size:
                result.samples.append(_sample(recording_id, outcome))
    _decisions(result, fired_evidence, saved_rule.rule_id if saved_rule else None)
    result.lost_confirmed = len(confirmed_calls - set(fired_evidence))
    result.elapsed_s = round(time.monotonic() - started, 2)
    audit_record(user=user, action="rule.backtest", object_type="rule_set",
                 object_id=rule_set.id,
                 details={"key": key, "days": days, "calls": result.calls,
                          "fired": result.fired})  # fmt: skip
    return result


def _outcome_of(outcomes: list[RuleOutcome], key: str) -> RuleOutcome:
    return next(o for o in outcomes if o.rule_key == key)


def _sample(recording_id: int, outcome: RuleOutcome) -> dict[str, Any]:
    assert outcome.hit is not None
    evidence = outcome.hit.evidence[:5]
    seg_ids = [e.segment_id for e in evidence if e.segment_id is not None]
    texts = dict(Segment.objects.filter(id__in=seg_ids).values_list("id", "text"))
    return {
        "recording_id": recording_id,
        "reason": outcome.hit.reason,
        "evidence": [{"segment_text": texts.get(e.segment_id, "") if e.segment_id else "",
                      "text": e.text, "note": e.note, "start_ms": e.start_ms,
                      "char_start": e.char_start, "char_end": e.char_end}
                     for e in evidence],
    }  # fmt: skip


def _decisions(
    result: BacktestResult, fired: Mapping[int, frozenset[int]], rule_id: int | None
) -> None:
    rows: list[dict[str, Any]] = []
    fired_ids = list(fired)
    for start in range(0, len(fired_ids), _BATCH):
        reviewed = (Hit.objects.filter(recording_id__in=fired_ids[start : start + _BATCH])
                    .exclude(review=Hit.Review.PENDING))  # fmt: skip
        rows.extend(dict(row) for row in
                    reviewed.values("recording_id", "rule_id", "evidence", "review"))

    def overlapping(same_rule: bool) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            if same_rule and row["rule_id"] != rule_id:
                continue
            segments = {e.get("segment_id") for e in row["evidence"]}
            if segments & fired[row["recording_id"]]:
                out.append(row)
        return out

    similar = overlapping(True) if rule_id is not None else []
    result.basis = "same_rule" if similar else ""
    if not similar:
        similar = overlapping(False)
        result.basis = "any_rule" if similar else ""
    result.confirmed = sum(r["review"] == Hit.Review.CONFIRMED for r in similar)
    result.dismissed = sum(r["review"] == Hit.Review.DISMISSED for r in similar)

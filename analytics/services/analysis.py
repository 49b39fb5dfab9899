"""The analysis stage: rules, metrics, sentiment and the score of each call, stored together.

`call_analyze` is the pipeline stage (claims TRANSCRIBED → ANALYZING, like every stage).
`calls_analyze` does the work for a batch of calls: one query for their segments, the engine
outside any transaction, then ONE transaction that replaces each call's previous analysis
(hits, rule errors, score). A reviewer's confirm/dismiss on a hit and the manual scorecard
items survive a re-analysis when the same rule fires on the same segments again. Running it
twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from analytics.models import SEVERITY_RANK, CallScore, Hit, RuleRunError, Severity
from analytics.rulepack import OutcomeState, RulePack, sentiment_labels
from analytics.rules.sentiment import (
    CallSentiment,
    RoleSentiment,
    SegmentSentiment,
    call_sentiment,
)
from analytics.rules.summary import call_metrics
from analytics.rules.types import Call, Evidence, RuleOutcome, Seg
from analytics.services.rulesets import CompiledVersion, active_compiled, compiled_version
from qa_i18n import msg
from transcription.models import Recording, Segment
from transcription.services.recordings import claim_stage, recording_fail

logger = logging.getLogger(__name__)

_MAX_EVIDENCE = 20  # per hit; a rule matching hundreds of times does not need every one kept


def _code_version(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(path.rglob("*.txt")) if path.is_dir() else [path]:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
# Metrics, sentiment and a rule version's hits depend only on the transcript and on the
# engine's code and lexicon: any change to either gives every call a new features key.
FEATURES_VERSION = _code_version(*sorted(_RULES_DIR.glob("*.py")), _RULES_DIR / "lexicon")


def features_key(call: Call) -> str:
    """Changes whenever the transcript, or the engine/sentiment/metrics code, changes."""
    digest = hashlib.sha256(FEATURES_VERSION.encode())
    digest.update(f"{call.channel_layout}\x1f{call.duration_ms}".encode())
    for seg in call.segments:
        digest.update(f"\x1e{seg.id}\x1f{seg.role}\x1f{seg.start_ms}\x1f{seg.end_ms}\x1f"
                      f"{seg.emotion}\x1f{seg.text}".encode())  # fmt: skip
    return digest.hexdigest()


@dataclass(frozen=True)
class CallAnalysis:
    recording_id: int
    call: Call
    outcomes: tuple[RuleOutcome, ...]
    sentiment: CallSentiment
    metrics: dict[str, dict[str, float]]
    features_key: str = ""


@dataclass(frozen=True)
class StoredFeatures:
    """A call's metrics and sentiment as its last analysis stored them."""

    key: str
    sentiment: dict[str, dict[str, Any]]
    segment_sentiment: dict[str, list[Any]]
    metrics: dict[str, dict[str, float]]

    def call_sentiment(self) -> CallSentiment:
        return CallSentiment(
            segments=tuple(SegmentSentiment(int(seg_id), float(score), str(label))
                           for seg_id, (score, label) in self.segment_sentiment.items()),
            by_role={role: RoleSentiment(v["start"], v["end"], v["overall"], v["start_score"],
                                         v["end_score"], v["overall_score"])
                     for role, v in self.sentiment.items()},
        )  # fmt: skip


# -- the stage --------------------------------------------------------------------------------


def call_analyze(*, recording_id: int) -> Recording | None:
    """Analyze one transcribed call. Returns None when another worker already has it."""
    if not claim_stage(recording_id, Recording.Status.TRANSCRIBED, Recording.Status.ANALYZING):
        return None
    try:
        compiled = active_compiled()
        analyses = analyze(load_calls([recording_id]), compiled) if compiled else []
    except Exception as exc:
        logger.exception("analysis of recording %s crashed", recording_id)
        reason = msg("分析程序出错：{error}", error=f"{type(exc).__name__}: {exc}")
        return recording_fail(recording_id=recording_id, stage=Recording.Stage.ANALYZE,
                              reason=reason)  # fmt: skip
    with transaction.atomic():
        if compiled is not None:
            store(analyses, compiled, only_status=Recording.Status.ANALYZING)
        Recording.objects.filter(id=recording_id, status=Recording.Status.ANALYZING).update(
            status=Recording.Status.ANALYZED, status_changed_at=timezone.now(),
            failed_stage="", error="",
        )
    if compiled is None:
        logger.warning("no active rule set: recording %s analyzed without rules", recording_id)
    return Recording.objects.get(id=recording_id)


def calls_analyze(*, recording_ids: Sequence[int], compiled: CompiledVersion) -> int:
    """Re-analyze already analyzed calls with `compiled`; returns how many were stored.

    Calls that are meanwhile being transcribed or analyzed again are left to that stage.
    """
    analyses = analyze(load_calls(recording_ids), compiled, load_features(recording_ids))
    with transaction.atomic():
        return store(analyses, compiled, only_status=Recording.Status.ANALYZED)


# -- reading ----------------------------------------------------------------------------------


def load_calls(recording_ids: Iterable[int]) -> dict[int, Call]:
    """Segments of each call (one query), as the engine's plain data."""
    ids = list(recording_ids)
    by_call: dict[int, list[Seg]] = defaultdict(list)
    rows = (
        Segment.objects.filter(transcript__recording_id__in=ids)
        .order_by("transcript__recording_id", "index")
        .values_list(
            "transcript__recording_id", "id", "role", "start_ms", "end_ms", "text", "raw_text",
            "emotion",
        )
    )
    for recording_id, seg_id, role, start, end, text, raw, emotion in rows.iterator(2000):
        by_call[recording_id].append(Seg(seg_id, role, start, end, text, raw, emotion))
    facts = Recording.objects.filter(id__in=ids).values_list("id", "channels", "duration_ms")
    return {
        recording_id: Call(
            segments=tuple(by_call.get(recording_id, ())),
            channel_layout="mono" if channels == 1 else "stereo",
            duration_ms=duration or 0,
        )
        for recording_id, channels, duration in facts
    }


def load_features(recording_ids: Iterable[int]) -> dict[int, StoredFeatures]:
    rows = CallScore.objects.filter(recording_id__in=list(recording_ids)).exclude(
        features_key="").values_list("recording_id", "features_key", "sentiment",
                                     "segment_sentiment", "metrics")  # fmt: skip
    return {row[0]: StoredFeatures(*row[1:]) for row in rows}


def analyze(
    calls: Mapping[int, Call], compiled: CompiledVersion,
    stored: Mapping[int, StoredFeatures] | None = None,
) -> list[CallAnalysis]:  # fmt: skip
    """The engine over each call: pure computation, no database.

    Metrics and sentiment come from `stored` when they were computed from this very transcript
    with this very code (a re-analysis after a rule change); otherwise they are computed.
    """
    out = []
    for recording_id, call in calls.items():
        outcomes = tuple(compiled.pack.rule_set.evaluate(call))
        key = features_key(call)
        previous = (stored or {}).get(recording_id)
        if previous is not None and previous.key == key:
            sentiment, metrics = previous.call_sentiment(), previous.metrics
        else:
            sentiment, metrics = call_sentiment(call), call_metrics(call)
        out.append(CallAnalysis(recording_id, call, outcomes, sentiment, metrics, key))
    return out


# -- writing ----------------------------------------------------------------------------------


def _evidence_json(evidence: Evidence) -> dict[str, Any]:
    return {"segment_id": evidence.segment_id, "char_start": evidence.char_start,
            "char_end": evidence.char_end, "start_ms": evidence.start_ms,
            "end_ms": evidence.end_ms, "text": evidence.text, "note": evidence.note}  # fmt: skip


def _segments_of(evidence: Iterable[Mapping[str, Any]]) -> frozenset[int]:
    return frozenset(e["segment_id"] for e in evidence if e.get("segment_id") is not None)


@dataclass(frozen=True)
class _Carried:
    """What a reviewer decided about a call, kept across re-analysis."""

    reviews: dict[tuple[int, frozenset[int]], dict[str, Any]]  # (rule id, segments) → review
    manual: dict[str, str]
    review_status: str
    finalized_by_id: int | None
    finalized_at: Any
    assigned_to_id: int | None = None
    assigned_at: Any = None
    sampled: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    first_analyzed_at: Any = None


def _carried(recording_ids: list[int]) -> dict[int, _Carried]:
    reviews: dict[int, dict[tuple[int, frozenset[int]], dict[str, Any]]] = defaultdict(dict)
    reviewed = Hit.objects.filter(recording_id__in=recording_ids).exclude(review=Hit.Review.PENDING)
    for hit in reviewed.values("recording_id", "rule_id", "evidence", "review", "review_comment",
                               "reviewed_by_id", "reviewed_at"):  # fmt: skip
        key = (hit["rule_id"], _segments_of(hit["evidence"]))
        reviews[hit["recording_id"]][key] = {
            "review": hit["review"], "review_comment": hit["review_comment"],
            "reviewed_by_id": hit["reviewed_by_id"], "reviewed_at": hit["reviewed_at"],
        }  # fmt: skip
    out: dict[int, _Carried] = {}
    scores = CallScore.objects.filter(recording_id__in=recording_ids).values(
        "recording_id", "manual", "review_status", "finalized_by_id", "finalized_at",
        "assigned_to_id", "assigned_at", "sampled", "overrides", "first_analyzed_at",
    )
    for row in scores:
        out[row["recording_id"]] = _Carried(
            reviews.pop(row["recording_id"], {}), row["manual"], row["review_status"],
            row["finalized_by_id"], row["finalized_at"], row["assigned_to_id"],
            row["assigned_at"], row["sampled"], row["overrides"], row["first_analyzed_at"],
        )
    for recording_id, kept in reviews.items():
        out[recording_id] = _Carried(kept, {}, CallScore.ReviewStatus.PENDING, None, None)
    return out


def store(
    analyses: Sequence[CallAnalysis], compiled: CompiledVersion, *, only_status: str
) -> int:
    """Replace the stored analysis of each call (call inside a transaction); returns the count.

    Only calls still in `only_status` are written: a call that moved on meanwhile (re-
    transcription) is analyzed again by its own stage.
    """
    if not analyses:
        return 0
    wanted = [a.recording_id for a in analyses]
    current = set(
        Recording.objects.select_for_update()
        .filter(id__in=wanted, status=only_status)
        .values_list("id", flat=True)
    )
    analyses = [a for a in analyses if a.recording_id in current]
    ids = [a.recording_id for a in analyses]
    if not ids:
        return 0
    carried = _carried(ids)
    unchanged = _unchanged_hits(analyses)
    now = timezone.now()
    hits: list[dict[str, Any]] = []
    errors: list[RuleRunError] = []
    scores: list[dict[str, Any]] = []
    stale_hits: list[int] = []
    for analysis in analyses:
        kept = carried.get(analysis.recording_id)
        call_hits = _hits(analysis, compiled, kept, now)
        previous = unchanged.get(analysis.recording_id)
        if previous is None:
            hits.extend(call_hits)
        else:
            hits.extend(h for h in call_hits if h["rule_version_id"] not in previous)
            fired = {h["rule_version_id"] for h in call_hits}
            stale_hits.extend(hit_id for rv, hit_id in previous.items() if rv not in fired)
        errors.extend(_errors(analysis, compiled))
        scores.append(_score(analysis, compiled, call_hits, kept, now))
    replaced = [i for i in ids if i not in unchanged]
    Hit.objects.filter(recording_id__in=replaced).delete()
    Hit.objects.filter(id__in=stale_hits).delete()
    RuleRunError.objects.filter(recording_id__in=ids).delete()
    CallScore.objects.filter(recording_id__in=ids).delete()
    bulk_insert(Hit, hits)
    RuleRunError.objects.bulk_create(errors, batch_size=1000)
    bulk_insert(CallScore, scores)
    return len(ids)


def _unchanged_hits(analyses: Sequence[CallAnalysis]) -> dict[int, dict[int, int]]:
    """For calls whose transcript and engine are what they were last time: rule version →
    stored hit id. Such a hit is exactly what the same rule version finds again, so it stays
    as it is (with its review), and only hits of other rule versions are written. After a
    one-rule edit a re-analysis rewrites that rule's hits, not all of them."""
    keys = dict(CallScore.objects.filter(recording_id__in=[a.recording_id for a in analyses])
                .values_list("recording_id", "features_key"))  # fmt: skip
    same = [a.recording_id for a in analyses
            if a.features_key and keys.get(a.recording_id) == a.features_key]  # fmt: skip
    out: dict[int, dict[int, int]] = {recording_id: {} for recording_id in same}
    rows = Hit.objects.filter(recording_id__in=same).values_list("recording_id",
                                                                 "rule_version_id", "id")
    for recording_id, rule_version_id, hit_id in rows:
        out[recording_id][rule_version_id] = hit_id
    return out


def bulk_insert(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new rows given as {attname: value} (fields left out get their defaults).

    PostgreSQL gets them through COPY, without building model instances (a re-analysis writes
    a hundred rows a call); other databases through bulk_create. Nothing needs the new keys.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create((model(**row) for row in rows), batch_size=1000)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}  # "" for text, None if nullable
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    names = [f.attname for f in fields]
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = []
            for name in names:
                value = row[name] if name in row else defaults.get(name)
                if name in json_fields and value is not None:
                    value = json.dumps(value, ensure_ascii=False)
                values.append(value)
            copy.write_row(values)


def _hits(
    analysis: CallAnalysis, compiled: CompiledVersion, kept: _Carried | None, now: Any
) -> list[dict[str, Any]]:
    """Hit rows ({attname: value}) for the rules that fired."""
    segment_ids = {seg.id for seg in analysis.call.segments}
    out = []
    for outcome in analysis.outcomes:
        if outcome.hit is None:
            continue
        ref = compiled.rules[outcome.rule_key]
        evidence = [_evidence_json(e) for e in outcome.hit.evidence[:_MAX_EVIDENCE]]
        first = outcome.hit.evidence[0] if outcome.hit.evidence else Evidence(None)
        review = (kept.reviews.get((ref.rule_id, _segments_of(evidence))) if kept else None) or {}
        out.append({
            "recording_id": analysis.recording_id, "rule_id": ref.rule_id,
            "rule_version_id": ref.rule_version_id, "severity": outcome.hit.severity,
            "reason": outcome.hit.reason[:500], "evidence": evidence,
            "occurrences": OutcomeState.of(outcome).occurrences,
            "segment_id": first.segment_id if first.segment_id in segment_ids else None,
            "start_ms": max(first.start_ms, 0), "end_ms": max(first.end_ms, 0),
            "matched_text": first.text[:200], "created_at": now, **review,
        })  # fmt: skip
    return out


def _errors(analysis: CallAnalysis, compiled: CompiledVersion) -> list[RuleRunError]:
    return [
        RuleRunError(rule_id=compiled.rules[o.rule_key].rule_id,
                     rule_version_id=compiled.rules[o.rule_key].rule_version_id,
                     recording_id=analysis.recording_id, message=o.error[:2000])
        for o in analysis.outcomes if o.error
    ]  # fmt: skip


def score_fields(
    compiled_pack: RulePack, outcomes: Mapping[str, Mapping[str, Any]], *, mono: bool,
    sentiment: Mapping[str, Mapping[str, str]], dismissed: frozenset[str],
    manual: Mapping[str, str], overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Labels, items, score and flag from stored outcomes: the one place a call is scored.

    `overrides` (label key → value, from accepted appeals) replace what the rules said; the
    items they change are marked "overridden".
    """
    states = {key: OutcomeState(**state) for key, state in outcomes.items()}
    labels, occurrences = compiled_pack.read_labels(states, mono=mono, sentiment=sentiment,
                                                    dismissed=dismissed)  # fmt: skip
    changed = {key: value for key, value in (overrides or {}).items() if key in labels}
    labels = {**labels, **changed}
    result = compiled_pack.scorecard.score(labels, occurrences, manual)
    items = [item.as_dict() for item in result.items]
    for item in items:
        if item["key"] in changed and item["kind"] != "manual":
            item["overridden"] = True
    return {
        "labels": labels, "score": result.score, "flagged": result.flagged,
        "flag_reasons": list(result.reasons), "critical": bool(result.critical),
        "items": items, "pending_manual": list(result.pending),
    }  # fmt: skip


def _score(
    analysis: CallAnalysis, compiled: CompiledVersion, hits: list[dict[str, Any]],
    kept: _Carried | None, now: Any,
) -> dict[str, Any]:  # fmt: skip
    """The CallScore row ({attname: value})."""
    # Only what the scorecard reads is kept for re-scoring after a review.
    read = compiled.label_rules
    outcomes = {
        o.rule_key: {"applies": o.applies, "fired": o.fired, "error": o.error,
                     "occurrences": OutcomeState.of(o).occurrences}
        for o in analysis.outcomes if o.rule_key in read
    }  # fmt: skip
    key_of = {ref.rule_id: key for key, ref in compiled.rules.items()}
    dismissed = frozenset(key_of[h["rule_id"]] for h in hits
                          if h.get("review") == Hit.Review.DISMISSED)
    manual = dict(kept.manual) if kept else {}
    overrides = dict(kept.overrides) if kept else {}
    sentiment = sentiment_labels(analysis.sentiment)
    mono = analysis.call.channel_layout == "mono"
    fields = score_fields(compiled.pack, outcomes, mono=mono, sentiment=sentiment,
                          dismissed=dismissed, manual=manual, overrides=overrides)  # fmt: skip
    auto = score_fields(compiled.pack, outcomes, mono=mono, sentiment=sentiment,
                        dismissed=frozenset(), manual={})["score"]  # fmt: skip
    live = [h for h in hits if h.get("review") != Hit.Review.DISMISSED]
    severity_rank = max((SEVERITY_RANK[Severity(h["severity"])] for h in live), default=0)
    if fields["critical"]:
        severity_rank = SEVERITY_RANK[Severity.CRITICAL]
    by_role = analysis.sentiment.by_role
    return {
        "recording_id": analysis.recording_id, "rule_set_version_id": compiled.version_id,
        "scorecard_version_id": compiled.scorecard_version_id,
        # Each hit records its own rule version; these are the rules the items were read from.
        "rule_versions": {key: number for key, number in compiled.rule_version_numbers.items()
                          if key in read},
        "auto_score": auto, "severity_rank": severity_rank, "hit_count": len(live),
        "outcomes": outcomes, "manual": manual, "overrides": overrides, "metrics": analysis.metrics,
        "sentiment": {role: {"start": r.start, "end": r.end, "overall": r.overall,
                             "start_score": r.start_score, "end_score": r.end_score,
                             "overall_score": r.overall_score} for role, r in by_role.items()},
        "segment_sentiment": {str(s.segment_id): [s.score, s.label]
                              for s in analysis.sentiment.segments},
        "customer_sentiment_end": by_role["customer"].end if "customer" in by_role else "",
        "rule_errors": {o.rule_key: o.error for o in analysis.outcomes if o.error},
        "review_status": kept.review_status if kept else CallScore.ReviewStatus.PENDING,
        "finalized_by_id": kept.finalized_by_id if kept else None,
        "finalized_at": kept.finalized_at if kept else None,
        "assigned_to_id": kept.assigned_to_id if kept else None,
        "assigned_at": kept.assigned_at if kept else None,
        "sampled": kept.sampled if kept else False,
        "analyzed_at": now, "features_key": analysis.features_key, **fields,
        "first_analyzed_at": (kept.first_analyzed_at if kept else None) or now,
    }  # fmt: skip


def call_score_fields(
    score: CallScore, *, hits: Sequence[Hit] | None = None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """`score_fields` for a stored call score, as it would be with these overrides."""
    compiled = compiled_version(score.rule_set_version)
    if hits is None:
        hits = list(Hit.objects.filter(recording_id=score.recording_id))
    key_of = {ref.rule_id: key for key, ref in compiled.rules.items()}
    dismissed = frozenset(key_of[h.rule_id] for h in hits
                          if h.review == Hit.Review.DISMISSED and h.rule_id in key_of)
    mono = Recording.objects.filter(id=score.recording_id, channels=1).exists()
    sentiment = {role: {k: v for k, v in values.items() if k in ("start", "end", "overall")}
                 for role, values in score.sentiment.items()}  # fmt: skip
    return score_fields(compiled.pack, score.outcomes, mono=mono, sentiment=sentiment,
                        dismissed=dismissed, manual=score.manual, overrides=overrides)


def call_score_refresh(*, recording_id: int) -> CallScore:
    """Score a call again from its stored outcomes, reviews and manual items (no engine run).

    Used after a reviewer confirms or dismisses a hit or fills a manual item: a dismissed hit
    reads as "rule did not fire"; the score keeps the rule-set version the call was analyzed
    with.
    """
    with transaction.atomic():
        score = (CallScore.objects.select_for_update().select_related("rule_set_version")
                 .get(recording_id=recording_id))  # fmt: skip
        hits = list(Hit.objects.filter(recording_id=recording_id))
        fields = call_score_fields(score, hits=hits, overrides=score.overrides)
        live = [h for h in hits if h.review != Hit.Review.DISMISSED]
        rank = max((SEVERITY_RANK[Severity(h.severity)] for h in live), default=0)
        fields["severity_rank"] = SEVERITY_RANK[Severity.CRITICAL] if fields["critical"] else rank
        fields["hit_count"] = len(live)
        for name, value in fields.items():
            setattr(score, name, value)
        score.save(update_fields=list(fields))
    return score

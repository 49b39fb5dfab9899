"""Keyword audit (关键词稽核): which transcript turns say given words, over the whole history.

Reads only, scoped to the user like every selector. Terms match `text` (what the UI shows)
or `raw_text` (as heard, before number normalisation), case-insensitively for Latin letters.
On PostgreSQL the `icontains` lookups of terms of three or more characters are served by
trigram indexes on UPPER(text) and UPPER(raw_text) (transcription migration 0006), because
Django writes them as `UPPER(col) LIKE UPPER(%term%)`; two-character terms, which a trigram
index cannot answer, by bigram indexes on qa_bigrams(UPPER(col)) (migration 0008).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.fields.array import ArrayContains  # type: ignore[attr-defined]
from django.db import connection
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import Hit, Rule, RuleVersion, SavedSearch
from analytics.selectors import calls_visible
from qa_platform.roles import Role, user_role
from qa_platform.scoping import agents_visible, teams_visible
from transcription.models import Recording, Segment

User = AbstractBaseUser | AnonymousUser

# Agents do not search other people's calls; their own calls are on their score pages.
SEARCH_ROLES = frozenset({Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR})
MIN_TERM_LENGTH = 2
MAX_TERMS = 10
EXPORT_ROW_CAP = 100_000
SENTIMENTS = ("negative", "neutral", "positive")
MATCH_MODES = ("any", "all")

# "credit card" (or “…”) is one phrase; otherwise spaces, commas and 、 separate terms.
_TERM_RE = re.compile(r'"([^"]+)"|“([^”]+)”|([^\s,，、;；"“”]+)')
_SNIPPET_CHARS = 160
_SNIPPET_CONTEXT = 60


@dataclass(frozen=True)
class KeywordQuery:
    """A parsed, validated search: only values the user may use are kept."""

    q: str = ""
    terms: tuple[str, ...] = ()
    match: str = "any"
    role: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    agent: str = ""  # the agent's code (工号)
    team: int | None = None
    rule: int | None = None
    sentiment: str = ""

    def params(self) -> dict[str, str]:
        """The query as GET parameters (also what a saved search stores): only set values."""
        values = asdict(self)
        values.pop("terms")
        out = {key: (value.isoformat() if isinstance(value, dt.date) else str(value))
               for key, value in values.items() if value not in ("", None)}  # fmt: skip
        if out.get("match") == "any":
            del out["match"]
        return out


@dataclass
class ParsedSearch:
    query: KeywordQuery
    notices: list[str] = field(default_factory=list)
    # Set when there is a search box value but it is too short to run.
    too_short: bool = False

    @property
    def runnable(self) -> bool:
        return bool(self.query.terms) and not self.too_short


def search_allowed(*, user: User) -> bool:
    return user_role(user) in SEARCH_ROLES


def search_parse(params: Mapping[str, Any], *, user: User) -> ParsedSearch:
    """Read the search form. Terms shorter than two characters stop the search; a filter
    with a bad or out-of-scope value is dropped with a notice, and the rest still runs."""
    notices: list[str] = []
    q = str(params.get("q", "")).strip()
    terms = _terms(q)
    too_short = bool(q or "q" in params) and (
        not terms or any(len(t) < MIN_TERM_LENGTH for t in terms)
    )
    if len(terms) > MAX_TERMS:
        notices.append(_("最多同时搜索 %(n)d 个词，其余已忽略") % {"n": MAX_TERMS})
        terms = terms[:MAX_TERMS]

    match = str(params.get("match", "") or "any")
    if match not in MATCH_MODES:
        notices.append(_("匹配方式无效，已按“任一词”搜索"))
        match = "any"

    role = str(params.get("role", "")).strip()
    if role and role not in Segment.Role.values:
        notices.append(_("角色“%(v)s”无效，已忽略") % {"v": role})
        role = ""

    date_from = _date(params, "date_from", _("开始日期"), notices)
    date_to = _date(params, "date_to", _("结束日期"), notices)
    if date_from and date_to and date_from > date_to:
        notices.append(_("开始日期晚于结束日期，日期条件已忽略"))
        date_from = date_to = None

    agent = str(params.get("agent", "")).strip()
    if agent and not agents_visible(user=user).filter(code=agent).exists():
        notices.append(_("坐席工号“%(v)s”不存在或不在您的查看范围内，已忽略") % {"v": agent})
        agent = ""

    team = _int(params.get("team"))
    if params.get("team") and (team is None
                               or not teams_visible(user=user).filter(id=team).exists()):
        notices.append(_("班组不存在或不在您的查看范围内，已忽略"))
        team = None

    rule = _int(params.get("rule"))
    if params.get("rule") and (rule is None or not Rule.objects.filter(id=rule).exists()):
        notices.append(_("规则不存在，已忽略"))
        rule = None

    sentiment = str(params.get("sentiment", "")).strip()
    if sentiment and sentiment not in SENTIMENTS:
        notices.append(_("客户情绪“%(v)s”无效，已忽略") % {"v": sentiment})
        sentiment = ""

    query = KeywordQuery(q=q, terms=tuple(terms), match=match, role=role, date_from=date_from,
                         date_to=date_to, agent=agent, team=team, rule=rule,
                         sentiment=sentiment)  # fmt: skip
    return ParsedSearch(query=query, notices=notices, too_short=too_short)


def _terms(q: str) -> list[str]:
    seen: dict[str, None] = {}
    for match in _TERM_RE.finditer(q):
        term = next(g for g in match.groups() if g is not None).strip()
        if term:
            seen.setdefault(term, None)
    return list(seen)


def _date(params: Mapping[str, Any], key: str, label: str, notices: list[str]) -> dt.date | None:
    value = str(params.get(key, "")).strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        notices.append(_("%(label)s“%(v)s”不是有效日期，已忽略") % {"label": label, "v": value})
        return None


def _int(value: Any) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


# -- choices for the form --------------------------------------------------------------------


def rules_for_filter() -> list[dict[str, Any]]:
    """Every rule with its newest version's name (rule names are not team data)."""
    newest = RuleVersion.objects.filter(rule=OuterRef("pk")).order_by("-number").values("name")
    rules = Rule.objects.annotate(name=Subquery(newest[:1])).order_by("rule_set__title", "key")
    return [dict(row) for row in rules.values("id", "key", "name", "rule_set__title")]


# -- the search ------------------------------------------------------------------------------


def _term_q(term: str) -> Q:
    if len(term) == 2 and connection.vendor == "postgresql":
        # Served by the bigram indexes (transcription 0008); a trigram index cannot answer a
        # two-character LIKE. Exact: a two-character term is in a text iff in its bigrams.
        wanted = Value([term.upper()], output_field=ArrayField(TextField()))
        return Q(ArrayContains(_bigrams("text"), wanted)) | Q(
            ArrayContains(_bigrams("raw_text"), wanted)
        )
    return Q(text__icontains=term) | Q(raw_text__icontains=term)


def _bigrams(column: str) -> Func:
    return Func(Upper(column), function="qa_bigrams", output_field=ArrayField(TextField()))


def _calls(query: KeywordQuery, *, user: User) -> QuerySet[Recording]:
    calls = calls_visible(user=user)
    tz = timezone.get_current_timezone()
    if query.date_from:
        calls = calls.filter(started_at__gte=dt.datetime.combine(query.date_from, dt.time.min, tz))
    if query.date_to:
        end = dt.datetime.combine(query.date_to + dt.timedelta(days=1), dt.time.min, tz)
        calls = calls.filter(started_at__lt=end)
    if query.agent:
        calls = calls.filter(agent__code=query.agent)
    if query.team:
        calls = calls.filter(agent__team_id=query.team)
    if query.rule:
        # A hit a reviewer dismissed is not a hit of the rule.
        calls = calls.filter(Exists(Hit.objects.filter(recording=OuterRef("pk"), rule_id=query.rule)
                                    .exclude(review=Hit.Review.DISMISSED)))  # fmt: skip
    if query.sentiment:
        calls = calls.filter(score__customer_sentiment_end=query.sentiment)
    if query.match == "all" and len(query.terms) > 1:
        for term in query.terms:
            said = Segment.objects.filter(_term_q(term), transcript__recording=OuterRef("pk"))
            if query.role:
                said = said.filter(role=query.role)
            calls = calls.filter(Exists(said))
    return calls


def segments_matching(query: KeywordQuery, *, user: User) -> QuerySet[Segment]:
    """Turns that say any of the terms, in calls the user may see that pass the filters
    (with match "all": calls where every term is said), newest call first."""
    if not query.terms:
        return Segment.objects.none()
    any_term = Q()
    for term in query.terms:
        any_term |= _term_q(term)
    calls = _calls(query, user=user).values("id")
    segments = Segment.objects.filter(any_term, transcript__recording__in=calls)
    if query.role:
        segments = segments.filter(role=query.role)
    return segments.order_by(F("transcript__recording__started_at").desc(nulls_last=True),
                             "-transcript__recording_id", "start_ms", "id")  # fmt: skip


_ROW_FIELDS = (
    "id", "transcript__recording_id", "transcript__recording__call_id",
    "transcript__recording__original_name", "transcript__recording__sha256",
    "transcript__recording__started_at", "transcript__recording__agent__code",
    "transcript__recording__agent__name", "transcript__recording__agent__team__name",
    "role", "start_ms", "text", "raw_text",
)  # fmt: skip


@dataclass(frozen=True)
class SearchRow:
    segment_id: int
    recording_id: int
    call: str
    started_at: dt.datetime | None
    agent_code: str
    agent_name: str
    team: str
    role: str
    start_ms: int
    text: str
    raw_text: str

    @property
    def role_label(self) -> str:
        return str(Segment.Role(self.role).label) if self.role in Segment.Role.values else self.role

    @property
    def seconds(self) -> str:
        """The turn's start for the call page link: seconds, to the millisecond."""
        return f"{self.start_ms / 1000:.3f}".rstrip("0").rstrip(".")


def _row(values: tuple[Any, ...]) -> SearchRow:
    (segment_id, recording_id, call_id, original_name, sha256, started_at, agent_code,
     agent_name, team, role, start_ms, text, raw_text) = values  # fmt: skip
    return SearchRow(segment_id=segment_id, recording_id=recording_id,
                     call=call_id or original_name or sha256[:12], started_at=started_at,
                     agent_code=agent_code or "", agent_name=agent_name or "", team=team or "",
                     role=role, start_ms=start_ms, text=text, raw_text=raw_text or "")  # fmt: skip


def search_results(query: KeywordQuery, *, user: User) -> QuerySet[Any]:
    """The matching turns as value tuples, for a paginator; `search_rows` reads a page."""
    return segments_matching(query, user=user).values_list(*_ROW_FIELDS)


def search_rows(values: Iterable[tuple[Any, ...]]) -> list[SearchRow]:
    """One page of results as plain rows (no model instances)."""
    return [_row(row) for row in values]


def export_rows(query: KeywordQuery, *, user: User,
                cap: int = EXPORT_ROW_CAP) -> Iterator[SearchRow]:
    """Up to `cap` + 1 matching rows, streamed from the database (the caller tells the user
    when there were more than `cap`)."""
    values = segments_matching(query, user=user).values_list(*_ROW_FIELDS)[: cap + 1]
    for row in values.iterator(chunk_size=2000):
        yield _row(row)


def snippet(row: SearchRow, terms: tuple[str, ...]) -> dict[str, Any]:
    """The turn's display text split into plain and matched parts (the template escapes
    them); the text as heard when only it matched (e.g. 一百 heard, 100 shown)."""
    source, text = "text", row.text
    spans = _spans(text, terms)
    if not spans and row.raw_text:
        raw_spans = _spans(row.raw_text, terms)
        if raw_spans:
            source, text, spans = "raw", row.raw_text, raw_spans
    start, end = 0, len(text)
    if len(text) > _SNIPPET_CHARS and spans:
        start = max(0, spans[0][0] - _SNIPPET_CONTEXT)
        end = min(len(text), max(spans[0][1] + _SNIPPET_CONTEXT, start + _SNIPPET_CHARS))
    parts: list[dict[str, Any]] = []
    position = start
    for span_start, span_end in spans:
        if span_end <= start or span_start >= end:
            continue
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start > position:
            parts.append({"text": text[position:span_start], "match": False})
        parts.append({"text": text[span_start:span_end], "match": True})
        position = span_end
    if position < end:
        parts.append({"text": text[position:end], "match": False})
    return {"source": source, "parts": parts, "before": start > 0, "after": end < len(text)}


def _spans(text: str, terms: tuple[str, ...]) -> list[tuple[int, int]]:
    found = sorted((m.start(), m.end()) for term in terms
                   for m in re.finditer(re.escape(term), text, re.IGNORECASE))  # fmt: skip
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# -- saved searches --------------------------------------------------------------------------


def saved_searches(*, user: User) -> QuerySet[SavedSearch]:
    if not user.is_authenticated:
        return SavedSearch.objects.none()
    return SavedSearch.objects.filter(owner=user.pk).order_by("name")

"""Reads for the dashboards (质检看板): aggregate queries over the calls the user may see.

Every function takes the user and a `Slice` and starts from `calls_visible`, so no number on a
dashboard can include a call outside the user's scope. The database does the counting: each
chart is one GROUP BY query; Python only fills in days without calls and names the rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Avg, Count, DateField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate, TruncWeek

from analytics.models import Hit, Rule, RuleVersion
from analytics.selectors import User, calls_visible
from qa_platform.models import Agent, Team
from qa_platform.scoping import agents_visible, teams_visible
from transcription.models import Recording

# (label, lowest score, highest score) of the score distribution's buckets.
SCORE_BUCKETS = (("<60", 0, 59), ("60–69", 60, 69), ("70–79", 70, 79), ("80–89", 80, 89),
                 ("90–99", 90, 99), ("100", 100, 100))  # fmt: skip
SENTIMENTS = ("positive", "neutral", "negative")


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class Slice:
    """Which calls a dashboard counts: call dates (local, inclusive), optionally a team or agent."""

    start: dt.date
    end: dt.date
    team_id: int | None = None
    agent_id: int | None = None

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        zone = local_zone()
        return (dt.datetime.combine(self.start, dt.time(), zone),
                dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), zone))  # fmt: skip

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]


# -- what the user may open ----------------------------------------------------------------------


def dashboard_team(*, user: User, team_id: int) -> Team:
    """Team.DoesNotExist unless the user may see the team (shown as 404)."""
    return teams_visible(user=user).get(id=team_id)


def dashboard_agent(*, user: User, agent_id: int) -> Agent:
    """Agent.DoesNotExist unless the user may see the agent (shown as 404)."""
    return agents_visible(user=user).select_related("team").get(id=agent_id)


def dashboard_rule(*, rule_id: int) -> Rule:
    """The rule with its newest version's name as `name` (Rule.DoesNotExist if unknown)."""
    return _with_names(Rule.objects.select_related("rule_set")).get(id=rule_id)


def own_agent(*, user: User) -> Agent | None:
    return Agent.objects.filter(user=user.pk).first() if user.is_authenticated else None


# -- the calls a slice counts --------------------------------------------------------------------


def _call_day(prefix: str = "") -> TruncDate:
    """The local date of a call; a call with no start time counts on the day it arrived."""
    return TruncDate(Coalesce(f"{prefix}started_at", f"{prefix}created_at"), tzinfo=local_zone())


def scored_calls(*, user: User, where: Slice) -> QuerySet[Recording]:
    """Analyzed calls the user may see, in the slice."""
    start, end = where.bounds()
    calls = calls_visible(user=user).filter(
        Q(started_at__gte=start, started_at__lt=end)
        | Q(started_at__isnull=True, created_at__gte=start, created_at__lt=end),
        score__isnull=False,
    )
    if where.team_id is not None:
        calls = calls.filter(agent__team_id=where.team_id)
    if where.agent_id is not None:
        calls = calls.filter(agent_id=where.agent_id)
    return calls


def _hits(*, user: User, where: Slice) -> QuerySet[Hit]:
    return Hit.objects.filter(recording_id__in=scored_calls(user=user, where=where).values("id"))


def _score_aggregates(prefix: str = "score__") -> dict[str, Any]:
    return {
        "calls": Count("id"),
        "avg_score": Avg(f"{prefix}score"),
        "flagged": Count("id", filter=Q(**{f"{prefix}flagged": True})),
        "critical": Count("id", filter=Q(**{f"{prefix}critical": True})),
    }


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    """Rounded averages, and flagged/critical/sentiment counts as percentages of calls."""
    calls = row.get("calls") or 0
    out = dict(row)
    out["avg_score"] = round(row["avg_score"], 1) if row.get("avg_score") is not None else None
    for key in ("flagged", "critical", *SENTIMENTS):
        if key in row:
            out[f"{key}_rate"] = round(100 * row[key] / calls, 1) if calls else None
    return out


# -- overview, team and agent pages --------------------------------------------------------------


def summary(*, user: User, where: Slice) -> dict[str, Any]:
    """Totals for the slice: calls, average score, flagged and critical calls and rates."""
    totals = scored_calls(user=user, where=where).aggregate(**_score_aggregates())
    return _rates(totals)


def daily(*, user: User, where: Slice) -> list[dict[str, Any]]:
    """Per local day of the slice (days without calls included): calls, average score,
    flagged and critical calls, and how customers' sentiment ended."""
    sentiment = {key: Count("id", filter=Q(score__customer_sentiment_end=key))
                 for key in SENTIMENTS}  # fmt: skip
    rows = (
        scored_calls(user=user, where=where)
        .annotate(day=_call_day())
        .values("day")
        .annotate(**_score_aggregates(), **sentiment)
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    empty = {"calls": 0, "avg_score": None, "flagged": 0, "critical": 0,
             **dict.fromkeys(SENTIMENTS, 0)}  # fmt: skip
    return [_rates({**empty, **by_day.get(day, {}), "day": day}) for day in where.days()]


def score_distribution(*, user: User, where: Slice) -> list[dict[str, Any]]:
    """How many calls fall in each score bucket (one query, one conditional count per bucket)."""
    counts = scored_calls(user=user, where=where).aggregate(**{
        f"b{n}": Count("id", filter=Q(score__score__gte=low, score__score__lte=high))
        for n, (_label, low, high) in enumerate(SCORE_BUCKETS)
    })  # fmt: skip
    return [{"bucket": label, "calls": counts[f"b{n}"]}
            for n, (label, _low, _high) in enumerate(SCORE_BUCKETS)]  # fmt: skip


def _with_names(rules: QuerySet[Rule]) -> QuerySet[Rule]:
    newest = RuleVersion.objects.filter(rule=OuterRef("pk")).order_by("-number")
    return rules.annotate(name=Subquery(newest.values("name")[:1]))


def top_rules(*, user: User, where: Slice, limit: int = 10) -> list[dict[str, Any]]:
    """Rules by hits in the slice, most first; hits a reviewer dismissed do not count."""
    rows = list(
        _hits(user=user, where=where)
        .exclude(review=Hit.Review.DISMISSED)
        .values("rule_id")
        .annotate(hits=Count("id"), confirmed=Count("id", filter=Q(review=Hit.Review.CONFIRMED)))
        .order_by("-hits", "rule_id")[:limit]
    )
    names = {rule.id: rule for rule in _with_names(Rule.objects.filter(
        id__in=[row["rule_id"] for row in rows]))}  # fmt: skip
    return [{**row, "key": names[row["rule_id"]].key,
             "name": names[row["rule_id"]].name or names[row["rule_id"]].key}  # type: ignore[attr-defined]
            for row in rows]  # fmt: skip


def agent_ranking(*, user: User, where: Slice) -> list[dict[str, Any]]:
    """Agents with calls in the slice, best average score first."""
    rows = (
        scored_calls(user=user, where=where)
        .filter(agent__isnull=False)
        .values("agent_id", code=F("agent__code"), name=F("agent__name"))
        .annotate(**_score_aggregates())
        .order_by(F("avg_score").desc(), "code")
    )
    return [_rates({**row, "rank": n}) for n, row in enumerate(rows, start=1)]


def agent_rank(*, user: User, where: Slice, agent: Agent) -> tuple[int, int] | None:
    """The agent's place among the team's agents in the slice, when the user can see the whole
    team (an agent sees only their own calls, so a rank would mean nothing)."""
    if agent.team_id is None or not teams_visible(user=user).filter(id=agent.team_id).exists():
        return None
    team = Slice(start=where.start, end=where.end, team_id=agent.team_id)
    ranking = agent_ranking(user=user, where=team)
    place = next((row["rank"] for row in ranking if row["agent_id"] == agent.id), None)
    return (place, len(ranking)) if place is not None else None


# -- rule pages ----------------------------------------------------------------------------------


def _review_counts() -> dict[str, Any]:
    return {
        "hits": Count("id"),
        "pending": Count("id", filter=Q(review=Hit.Review.PENDING)),
        "confirmed": Count("id", filter=Q(review=Hit.Review.CONFIRMED)),
        "dismissed": Count("id", filter=Q(review=Hit.Review.DISMISSED)),
    }


def _precision(row: Mapping[str, Any]) -> dict[str, Any]:
    decided = row["confirmed"] + row["dismissed"]
    return {**row, "precision": round(100 * row["confirmed"] / decided, 1) if decided else None}


def rule_summary(*, user: User, where: Slice, rule: Rule) -> dict[str, Any]:
    """The rule's hits in the slice by reviewers' decision, and its precision over them."""
    return _precision(_hits(user=user, where=where).filter(rule=rule).aggregate(**_review_counts()))


def rule_daily(*, user: User, where: Slice, rule: Rule) -> list[dict[str, Any]]:
    """The rule's hits per local call day, by reviewers' decision (days without hits included)."""
    rows = (
        _hits(user=user, where=where)
        .filter(rule=rule)
        .annotate(day=_call_day("recording__"))
        .values("day")
        .annotate(**_review_counts())
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    empty = {"hits": 0, "pending": 0, "confirmed": 0, "dismissed": 0}
    return [{**empty, **by_day.get(day, {}), "day": day} for day in where.days()]


def rule_precision_weekly(*, user: User, where: Slice, rule: Rule) -> list[dict[str, Any]]:
    """Per week (Monday first) with hits: confirmed / (confirmed + dismissed), as a percentage;
    None for a week in which reviewers decided nothing."""
    week = TruncWeek(Coalesce("recording__started_at", "recording__created_at"),
                     output_field=DateField(), tzinfo=local_zone())  # fmt: skip
    rows = (
        _hits(user=user, where=where)
        .filter(rule=rule)
        .annotate(week=week)
        .values("week")
        .annotate(**_review_counts())
        .order_by("week")
    )
    return [_precision(row) for row in rows]


def rule_top_agents(*, user: User, where: Slice, rule: Rule,
                    limit: int = 10) -> list[dict[str, Any]]:
    """Agents whose calls hit the rule most (hits a reviewer dismissed do not count)."""
    rows = (
        _hits(user=user, where=where)
        .filter(rule=rule, recording__agent__isnull=False)
        .values(agent_id=F("recording__agent_id"), code=F("recording__agent__code"),
                name=F("recording__agent__name"))
        .annotate(**_review_counts(),
                  live=Count("id", filter=~Q(review=Hit.Review.DISMISSED)))
        .order_by(F("live").desc(), F("hits").desc(), "code")[:limit]
    )
    return [_precision(row) for row in rows]

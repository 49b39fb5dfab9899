"""The one scoping rule every selector applies.

Agents see their own calls, supervisors the calls of the teams they supervise,
auditors and admins everything; a user with no role sees nothing.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, QuerySet

from qa_platform.models import Agent, Team
from qa_platform.roles import Role, user_role

M = TypeVar("M", bound=Model)


def scope_to_user(
    queryset: QuerySet[M], *, user: AbstractBaseUser | AnonymousUser, agent_path: str
) -> QuerySet[M]:
    """Restrict `queryset` to what `user` may see.

    `agent_path` is the lookup from the queryset's model to its `Agent`, e.g.
    "agent" for recordings or "recording__agent" for hits.
    """
    role = user_role(user)
    if role in (Role.ADMIN, Role.AUDITOR):
        return queryset
    if role is Role.SUPERVISOR:
        # A subquery, not a join: no duplicate rows, so aggregates over the result stay right.
        supervised = Team.objects.filter(supervisors=user.pk).values("id")
        return queryset.filter(**{f"{agent_path}__team__in": supervised})
    if role is Role.AGENT:
        return queryset.filter(**{f"{agent_path}__user": user})
    return queryset.none()


def teams_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Team]:
    """Teams whose pages and filters the user may use: all for admins and auditors, a
    supervisor's own teams, none for agents (a team shows other agents' numbers)."""
    role = user_role(user)
    if role in (Role.ADMIN, Role.AUDITOR):
        return Team.objects.all()
    if role is Role.SUPERVISOR:
        return Team.objects.filter(supervisors=user.pk)
    return Team.objects.none()


def agents_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Agent]:
    """Agents the user may see, by the same rule as `scope_to_user`."""
    role = user_role(user)
    if role in (Role.ADMIN, Role.AUDITOR):
        return Agent.objects.all()
    if role is Role.SUPERVISOR:
        return Agent.objects.filter(team__in=Team.objects.filter(supervisors=user.pk).values("id"))
    if role is Role.AGENT:
        return Agent.objects.filter(user=user.pk)
    return Agent.objects.none()

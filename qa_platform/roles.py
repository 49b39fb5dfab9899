"""The four roles, as Django groups created by a data migration."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.translation import pgettext_lazy


class Role(StrEnum):
    ADMIN = "管理员"
    SUPERVISOR = "质检主管"
    AUDITOR = "合规审计"
    AGENT = "坐席"


# The values are group names (data); these are what a reader sees.
ROLE_LABELS = {
    Role.ADMIN: pgettext_lazy("role", "管理员"),
    Role.SUPERVISOR: pgettext_lazy("role", "质检主管"),
    Role.AUDITOR: pgettext_lazy("role", "合规审计"),
    Role.AGENT: pgettext_lazy("role", "坐席"),
}

# When a user is in several groups, the widest role wins.
_PRECEDENCE = (Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR, Role.AGENT)


def user_role(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    """The user's effective role, or None for a user with no role (sees nothing)."""
    if not user.is_authenticated or not user.is_active:
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    cached: Role | str | None = getattr(user, "_qa_role", "")
    if cached != "":
        return cached  # type: ignore[return-value]
    names = set(cast(Any, user).groups.values_list("name", flat=True))
    role = next((r for r in _PRECEDENCE if r.value in names), None)
    cast(Any, user)._qa_role = role  # once per request: every selector asks
    return role

"""Reads for recordings, scoped to the user."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from qa_platform.roles import Role, user_role
from qa_platform.scoping import scope_to_user
from transcription.models import Recording

User = AbstractBaseUser | AnonymousUser

UPLOAD_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


def user_may_upload(*, user: User) -> bool:
    """Supervisors and admins may upload recordings; agents and auditors may not."""
    return user_role(user) in UPLOAD_ROLES


def recording_get_visible(*, user: User, recording_id: int) -> Recording:
    """One recording the user may see; Recording.DoesNotExist otherwise (shown as 404)."""
    return scope_to_user(Recording.objects.all(), user=user, agent_path="agent").get(
        id=recording_id
    )

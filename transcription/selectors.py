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


PIPELINE_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR})
# Who may send a failed recording round again.
RETRY_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})


def pipeline_overview(*, user: User) -> dict[str, object]:
    """The pipeline status page: sources, recent pulls, recordings by status, what failed.

    Recordings are scoped to the user; sources and pull runs are operational facts
    every pipeline viewer may see (they name no caller and no agent).
    """
    from django.db.models import Count

    from transcription.models import IngestRun, RecordingSource, SourceFile

    visible = scope_to_user(Recording.objects.all(), user=user, agent_path="agent")
    counts = dict(visible.order_by().values_list("status").annotate(n=Count("id")))
    problems = (
        visible.filter(status__in=[Recording.Status.FAILED, Recording.Status.REJECTED])
        .select_related("source", "agent")
        .order_by("-status_changed_at")[:100]
    )
    files = dict(
        SourceFile.objects.order_by().values_list("status").annotate(n=Count("id"))
    )
    return {
        "status_counts": [(value, label, counts.get(value, 0))
                          for value, label in Recording.Status.choices],
        "sources": RecordingSource.objects.order_by("name"),
        "runs": IngestRun.objects.select_related("source").order_by("-started_at")[:30],
        "problems": problems,
        "file_counts": [(value, label, files.get(value, 0))
                        for value, label in SourceFile.Status.choices],
        "file_problems": SourceFile.objects.filter(
            status__in=[SourceFile.Status.FAILED, SourceFile.Status.REJECTED]
        ).select_related("source").order_by("-updated_at")[:100],
    }

"""Writes to the append-only audit log, and verification of its hash chain."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from qa_platform.models import AuditEvent

GENESIS = "0" * 64


def audit_record(
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event; concurrent writers are serialised on the chain's last row."""
    authenticated = user is not None and user.is_authenticated
    with transaction.atomic():
        last = AuditEvent.objects.select_for_update().order_by("-id").first()
        event = AuditEvent(
            user=user if authenticated else None,  # type: ignore[misc]
            username=user.get_username() if authenticated and user else "",
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            details=details or {},
            prev_hash=last.hash if last else GENESIS,
        )
        event.hash = _digest(event)
        event.save()
    return event


def audit_verify() -> int | None:
    """The id of the first event whose hash does not match, or None if the chain is intact."""
    previous = GENESIS
    for event in AuditEvent.objects.order_by("id").iterator():
        if event.prev_hash != previous or event.hash != _digest(event):
            return event.id
        previous = event.hash
    return None


def _digest(event: AuditEvent) -> str:
    payload = json.dumps(
        [event.prev_hash, event.at.isoformat(), event.username, event.action,
         event.object_type, event.object_id, event.details],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()

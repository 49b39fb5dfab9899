from typing import Any

from qa_platform.audit import audit_record, audit_verify
from qa_platform.models import AuditEvent


def test_events_form_an_intact_chain(org: dict[str, Any]) -> None:
    for n in range(3):
        audit_record(user=org["sup1"], action="transcript.view", object_type="recording",
                     object_id=n, details={"n": n, "名": "值"})
    assert AuditEvent.objects.count() == 3
    assert audit_verify() is None


def test_editing_a_past_event_breaks_the_chain_where_it_was_edited(org: dict[str, Any]) -> None:
    events = [audit_record(user=org["sup1"], action="export", object_id=n) for n in range(3)]
    AuditEvent.objects.filter(id=events[1].id).update(username="someone-else")
    assert audit_verify() == events[1].id


def test_deleting_a_past_event_breaks_the_chain(org: dict[str, Any]) -> None:
    events = [audit_record(user=org["sup1"], action="export", object_id=n) for n in range(3)]
    AuditEvent.objects.filter(id=events[1].id).delete()
    assert audit_verify() == events[2].id


def test_an_event_cannot_be_saved_twice(org: dict[str, Any]) -> None:
    import pytest

    event = audit_record(user=org["sup1"], action="export")
    event.action = "nothing"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


def test_viewing_a_transcript_in_the_admin_is_audited(org: dict[str, Any]) -> None:
    from django.test import Client

    from transcription.models import Recording, Transcript

    recording = Recording.objects.create(sha256="e" * 64, size_bytes=1, audio_file="x.mp3")
    transcript = Transcript.objects.create(recording=recording, engine="sidecar")
    org["admin"].is_staff = org["admin"].is_superuser = True
    org["admin"].save()
    client = Client()
    client.force_login(org["admin"])
    response = client.get(f"/admin/transcription/transcript/{transcript.id}/change/")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="transcript.view")
    assert (event.object_id, event.details) == (str(recording.id), {"via": "admin"})

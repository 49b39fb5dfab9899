"""The recordings API: upload with a token, read back only what the user may see."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conftest import DEMO_CALLS
from qa_platform.models import AuditEvent
from transcription.models import Recording, Tombstone
from transcription.tests.test_upload import CALL, audio, leftovers, sidecar, text_file

UPLOAD = "/api/recordings/"


def api(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_supervisor_uploads_a_recording_with_a_token(org: dict[str, Any]) -> None:
    response = api(org["sup1"]).post(UPLOAD, {"file": audio(), "sidecar": sidecar()},
                                     format="multipart")

    assert response.status_code == 201, response.content
    recording = Recording.objects.get()
    assert response.json() == {
        "id": recording.id,
        "sha256": hashlib.sha256((DEMO_CALLS / f"{CALL}.mp3").read_bytes()).hexdigest(),
        "status": "received",
        "created": True,
        "error": "",
    }
    assert recording.sidecar_file
    assert AuditEvent.objects.get(action="recording.upload").username == "sup1"


def test_the_same_bytes_uploaded_again_answer_200_with_the_existing_recording(
    org: dict[str, Any], data_dir: Path
) -> None:
    client = api(org["admin"])
    first = client.post(UPLOAD, {"file": audio()}, format="multipart").json()

    response = client.post(UPLOAD, {"file": audio(name="again.mp3")}, format="multipart")

    assert response.status_code == 200
    assert response.json() == first | {"created": False}
    assert Recording.objects.count() == 1
    assert not leftovers(data_dir)


def test_a_file_that_is_not_audio_is_created_as_rejected_with_the_reason(
    org: dict[str, Any]
) -> None:
    response = api(org["sup1"]).post(UPLOAD, {"file": text_file()}, format="multipart")

    assert response.status_code == 201
    assert response.json()["status"] == "rejected" and response.json()["error"]


def test_a_file_over_the_limit_is_refused_with_413_and_leaves_nothing_behind(
    org: dict[str, Any], data_dir: Path, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 100 * 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(data_dir / "incoming")
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    (data_dir / "incoming").mkdir(exist_ok=True)

    response = api(org["sup1"]).post(UPLOAD, {"file": audio()}, format="multipart")

    assert response.status_code == 413
    assert f"{CALL}.mp3" in response.json()["detail"]
    assert not Recording.objects.exists()
    assert not leftovers(data_dir)


def test_content_purged_under_the_retention_policy_is_refused_with_409(
    org: dict[str, Any], data_dir: Path
) -> None:
    sha = hashlib.sha256((DEMO_CALLS / f"{CALL}.mp3").read_bytes()).hexdigest()
    Tombstone.objects.create(sha256=sha, reason="retention")

    response = api(org["sup1"]).post(UPLOAD, {"file": audio()}, format="multipart")

    assert response.status_code == 409
    assert sha[:12] in response.json()["detail"]
    assert not Recording.objects.exists()
    assert not leftovers(data_dir)


def test_a_request_without_a_file_is_a_bad_request(org: dict[str, Any]) -> None:
    response = api(org["sup1"]).post(UPLOAD, {"sidecar": sidecar()}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


def test_an_invalid_sidecar_is_a_bad_request_and_registers_nothing(
    org: dict[str, Any], data_dir: Path
) -> None:
    response = api(org["sup1"]).post(
        UPLOAD, {"file": audio(), "sidecar": sidecar(content=b"not json")}, format="multipart")

    assert response.status_code == 400
    assert "JSON" in response.json()["sidecar"][0]
    assert not Recording.objects.exists()
    assert not leftovers(data_dir)


def test_agents_and_auditors_may_not_upload(org: dict[str, Any]) -> None:
    for user in (org["agent_user"], org["auditor"], org["nobody"]):
        response = api(user).post(UPLOAD, {"file": audio()}, format="multipart")
        assert response.status_code == 403, user.username
    assert not Recording.objects.exists()


def test_an_unauthenticated_client_is_refused_not_redirected(db: None) -> None:
    # DRF answers 403 rather than 401 because session authentication comes first in settings.
    response = api().post(UPLOAD, {"file": audio()}, format="multipart")
    assert response.status_code in (401, 403)
    assert response.json() == {"detail": "身份认证信息未提供。"}
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = bad_token.post(UPLOAD, {"file": audio()}, format="multipart")
    assert response.status_code in (401, 403)
    assert response.json() == {"detail": "认证令牌无效。"}
    assert not Recording.objects.exists()


@pytest.fixture
def recordings(org: dict[str, Any]) -> dict[str, Recording]:
    def make(sha: str, agent: Any) -> Recording:
        return Recording.objects.create(
            sha256=sha * 64, size_bytes=1, audio_file="x.mp3", agent=agent,
            status=Recording.Status.ANALYZED, call_id=f"CALL-{sha}", original_name=f"{sha}.mp3",
            duration_ms=65000,
        )

    return {"team1": make("a", org["agent1"]), "team2": make("b", org["agent2"])}


def test_a_supervisor_reads_a_recording_of_their_team(
    org: dict[str, Any], recordings: dict[str, Recording]
) -> None:
    recording = recordings["team1"]
    response = api(org["sup1"]).get(f"{UPLOAD}{recording.id}/")

    assert response.status_code == 200
    body = response.json()
    assert body.pop("created_at")
    assert body == {
        "id": recording.id, "sha256": "a" * 64, "status": "analyzed", "error": "",
        "call_id": "CALL-a", "original_name": "a.mp3", "duration_ms": 65000,
    }


def test_a_recording_outside_the_users_scope_is_not_found_like_an_unknown_one(
    org: dict[str, Any], recordings: dict[str, Recording]
) -> None:
    client = api(org["sup1"])
    assert client.get(f"{UPLOAD}{recordings['team2'].id}/").status_code == 404
    assert client.get(f"{UPLOAD}999999/").status_code == 404
    agent = api(org["agent_user"])
    assert agent.get(f"{UPLOAD}{recordings['team1'].id}/").status_code == 200
    assert agent.get(f"{UPLOAD}{recordings['team2'].id}/").status_code == 404
    assert api(org["auditor"]).get(f"{UPLOAD}{recordings['team2'].id}/").status_code == 200

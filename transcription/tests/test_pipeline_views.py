from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from qa_platform.models import AuditEvent
from transcription.models import IngestRun, Recording, RecordingSource

pytestmark = pytest.mark.django_db


def failed(sha: str, agent: Any, error: str = "转写文件不是有效的 JSON") -> Recording:
    return Recording.objects.create(
        sha256=sha * 64, size_bytes=1, audio_file="x.mp3", agent=agent,
        status=Recording.Status.FAILED, failed_stage=Recording.Stage.ANALYZE, error=error,
        call_id=f"CALL-{sha}",
    )


@pytest.fixture
def pipeline(org: dict[str, Any]) -> dict[str, Any]:
    source = RecordingSource.objects.create(
        name="录音服务器", host="10.0.0.8", username="rec", password_ref="env:X",
        host_key_fingerprint="SHA256:" + "A" * 43, last_error="无法连接 SFTP 服务器 10.0.0.8:22",
    )
    IngestRun.objects.create(source=source, status=IngestRun.Status.PARTIAL, listed=5, failed=1,
                             errors=[{"path": "<b>x</b>.wav", "error": "下载失败"}])
    return {
        "source": source,
        "mine": failed("a", org["agent1"], error="<script>alert(1)</script>"),
        "theirs": failed("b", org["agent2"]),
    }


def get(client: Client, user: Any, url: str = "/pipeline/") -> Any:
    client.force_login(user)
    return client.get(url)


def test_a_supervisor_sees_runs_sources_and_only_their_teams_failures(
    client: Client, org: dict, pipeline: dict
) -> None:
    response = get(client, org["sup1"])
    html = response.content.decode()
    assert response.status_code == 200
    assert "录音服务器" in html and "无法连接 SFTP 服务器" in html
    assert "CALL-a" in html and "CALL-b" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "&lt;b&gt;x&lt;/b&gt;.wav" in html
    assert "重试" in html


def test_an_auditor_sees_the_page_without_retry_buttons(client: Client, org: dict,
                                                       pipeline: dict) -> None:
    html = get(client, org["auditor"]).content.decode()
    assert "CALL-a" in html and "CALL-b" in html
    assert "/retry/" not in html


def test_an_agent_may_not_see_the_pipeline(client: Client, org: dict, pipeline: dict) -> None:
    assert get(client, org["agent_user"]).status_code == 403


def test_retry_queues_the_call_again_and_is_audited(client: Client, org: dict,
                                                    pipeline: dict) -> None:
    client.force_login(org["sup1"])
    response = client.post(f"/pipeline/recordings/{pipeline['mine'].id}/retry/")
    assert response.status_code == 302
    pipeline["mine"].refresh_from_db()
    # No transcript exists, so analysis fails again: but it was sent round and recorded.
    assert AuditEvent.objects.filter(action="recording.retry", username="sup1").exists()


def test_retrying_another_teams_call_is_not_found(client: Client, org: dict,
                                                  pipeline: dict) -> None:
    client.force_login(org["sup1"])
    response = client.post(f"/pipeline/recordings/{pipeline['theirs'].id}/retry/")
    assert response.status_code == 404
    pipeline["theirs"].refresh_from_db()
    assert pipeline["theirs"].status == Recording.Status.FAILED


def test_retry_needs_a_csrf_token(org: dict, pipeline: dict) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(org["sup1"])
    assert client.post(f"/pipeline/recordings/{pipeline['mine'].id}/retry/").status_code == 403


def test_an_admin_adds_a_source_and_bad_values_are_named(client: Client, org: dict) -> None:
    client.force_login(org["admin"])
    form = {
        "name": "新来源", "kind": "sftp", "enabled": "on", "schedule": "*/10 * * * *",
        "host": "10.1.1.1", "port": "22", "username": "rec", "password_ref": "s3cret",
        "private_key_ref": "", "host_key_fingerprint": "SHA256:" + "B" * 43,
        "remote_dir": "/data", "include_globs": "*.wav", "max_transfers": "2",
        "stable_seconds": "60", "agent_channel": "left", "filename_pattern": "",
        "metadata_format": "json", "metadata_fields": "{}", "after_download": "keep",
        "processed_dir": "processed",
    }
    response = client.post("/settings/sources/new/", form)
    assert response.status_code == 200
    assert "应为 env:变量名 或 file:/路径" in response.content.decode()
    assert not RecordingSource.objects.filter(name="新来源").exists()

    form["password_ref"] = "env:REC_PASSWORD"
    response = client.post("/settings/sources/new/", form)
    assert response.status_code == 302
    source = RecordingSource.objects.get(name="新来源")
    assert source.password_ref == "env:REC_PASSWORD"
    event = AuditEvent.objects.get(action="source.change")
    assert "password_ref" in event.details["changed"]
    assert "REC_PASSWORD" not in str(event.details)


def test_only_admins_configure_sources(client: Client, org: dict, pipeline: dict) -> None:
    for user in ("sup1", "auditor", "agent_user"):
        client.force_login(org[user])
        assert client.get("/settings/sources/").status_code == 403
        assert client.get(f"/settings/sources/{pipeline['source'].id}/").status_code == 403

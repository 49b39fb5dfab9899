"""Uploading recordings from the web page, through the one register service and the pipeline."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from conftest import DEMO_CALLS
from qa_platform.models import AuditEvent, Team
from transcription.models import Recording
from transcription.services.uploads import UploadTooLarge, recording_upload, upload_name
from transcription.storage import absolute_path

URL = "/recordings/upload/"
CALL = "call_01_annual_fee_refund"


def audio(stem: str = CALL, *, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or f"{stem}.mp3", (DEMO_CALLS / f"{stem}.mp3").read_bytes(),
                              content_type="audio/mpeg")


def sidecar(stem: str = CALL, *, content: bytes | None = None) -> SimpleUploadedFile:
    data = (DEMO_CALLS / f"{stem}.json").read_bytes() if content is None else content
    return SimpleUploadedFile(f"{stem}.json", data, content_type="application/json")


def text_file(name: str = "notes.mp3") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"this is not a recording\n" * 20, content_type="text/plain")


def upload(client: Client, user: Any, **fields: Any) -> str:
    client.force_login(user)
    response = client.post(URL, fields)
    assert response.status_code == 200
    return response.content.decode()


def leftovers(data_dir: Path) -> list[Path]:
    incoming = data_dir / "incoming"
    return list(incoming.iterdir()) if incoming.exists() else []


@pytest.mark.django_db(transaction=True)
def test_a_supervisor_uploads_a_call_with_its_sidecar_and_it_is_transcribed_and_analyzed(
    client: Client, org: dict[str, Any], data_dir: Path
) -> None:
    call_command("load_rulepack", "standard", verbosity=0)
    # The sidecar names this team; its supervisor may then open the call.
    Team.objects.create(name="信用卡客服一组").supervisors.add(org["sup1"])

    html = upload(client, org["sup1"], files=[audio()], sidecars=[sidecar()])

    recording = Recording.objects.get()
    expected = (DEMO_CALLS / f"{CALL}.mp3").read_bytes()
    assert recording.sha256 == hashlib.sha256(expected).hexdigest()
    assert recording.original_name == f"{CALL}.mp3"
    stored = absolute_path(recording.audio_file)
    assert stored.is_relative_to(data_dir) and stored.name == f"{recording.sha256}.mp3"
    assert stored.read_bytes() == expected
    assert recording.status == Recording.Status.ANALYZED, recording.error
    assert recording.transcript.engine == "sidecar"
    assert recording.call_id == "RF20261116-0001"
    assert recording.hits.filter(rule__key="refund_request").exists()
    assert "新录音" in html
    call_url = f"/calls/{recording.id}/"
    assert f'href="{call_url}"' in html
    assert client.get(call_url).status_code == 200
    assert not leftovers(data_dir), "no temporary file may be left behind"


def test_the_same_bytes_uploaded_again_are_a_duplicate_and_create_nothing(
    client: Client, org: dict[str, Any], data_dir: Path
) -> None:
    upload(client, org["sup1"], files=[audio()])
    first = Recording.objects.get()

    html = upload(client, org["sup1"], files=[audio(name="copy-of-the-call.mp3")])

    assert "重复，已存在" in html
    assert f'href="/calls/{first.id}/"' in html
    assert list(Recording.objects.values_list("id", "original_name")) == [
        (first.id, f"{CALL}.mp3")]
    assert len(list((data_dir / "audio").rglob("*.mp3"))) == 1
    assert not leftovers(data_dir)


def test_a_file_that_is_not_audio_is_kept_as_rejected_with_the_reason_shown(
    client: Client, org: dict[str, Any], data_dir: Path
) -> None:
    html = upload(client, org["admin"], files=[text_file()])

    recording = Recording.objects.get()
    assert recording.status == Recording.Status.REJECTED
    assert recording.error
    assert f"已拒收：{recording.error}" in html
    assert not leftovers(data_dir)


def test_several_files_are_uploaded_at_once_and_one_bad_file_does_not_stop_the_rest(
    client: Client, org: dict[str, Any]
) -> None:
    html = upload(client, org["sup1"],
                  files=[text_file("first.wav"), audio(), audio("call_02_bill_inquiry_not_refund")])

    assert Recording.objects.count() == 3
    assert html.count("<td>新录音</td>") == 2 and "已拒收" in html


def test_agents_and_auditors_may_not_upload(client: Client, org: dict[str, Any]) -> None:
    for user in (org["agent_user"], org["auditor"], org["nobody"]):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert client.post(URL, {"files": [audio()]}).status_code == 403
    assert not Recording.objects.exists()


def test_an_anonymous_user_is_sent_to_the_login_page(client: Client, db: None) -> None:
    response = client.post(URL, {"files": [audio()]})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")
    assert not Recording.objects.exists()


def test_the_page_offers_multiple_audio_files_and_states_the_size_limit(
    client: Client, org: dict[str, Any], settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 2 * 1024**3
    client.force_login(org["sup1"])
    html = client.get(URL).content.decode()
    assert 'type="file"' in html and 'name="files" multiple' in html
    assert 'accept="audio/*,.aac,.flac,.m4a,.mp3,.ogg,.opus,.wav"' in html
    assert "2.0\xa0GB" in html  # filesizeformat keeps number and unit together
    assert 'name="csrfmiddlewaretoken"' in html


def test_only_supervisors_and_admins_see_the_upload_link(
    client: Client, org: dict[str, Any]
) -> None:
    for user, shown in ((org["sup1"], True), (org["admin"], True),
                        (org["agent_user"], False), (org["auditor"], False)):
        client.force_login(user)
        html = client.get("/calls/review/").content.decode()
        assert (f'href="{URL}"' in html) is shown, user.username


def test_the_upload_form_is_protected_against_cross_site_requests(org: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(org["sup1"])
    assert client.post(URL, {"files": [audio()]}).status_code == 403
    assert not Recording.objects.exists()


def test_a_file_over_the_limit_is_refused_and_leaves_no_temporary_file(
    client: Client, org: dict[str, Any], data_dir: Path, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 100 * 1024
    # Spool every upload to disk in incoming/, as a real large upload would be.
    settings.FILE_UPLOAD_TEMP_DIR = str(data_dir / "incoming")
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    (data_dir / "incoming").mkdir(exist_ok=True)

    html = upload(client, org["sup1"], files=[audio(), text_file("small.mp3")])

    assert f"已拒收：文件 {CALL}.mp3 超过 100.0\xa0KB 的上限" in html
    assert list(Recording.objects.values_list("original_name", flat=True)) == ["small.mp3"]
    assert not leftovers(data_dir)


def test_the_service_refuses_a_file_larger_than_it_claims_and_removes_the_partial_copy(
    org: dict[str, Any], data_dir: Path, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 100 * 1024
    lying = audio()
    lying.size = 10

    with pytest.raises(UploadTooLarge):
        recording_upload(file=lying, user=org["sup1"])

    assert not Recording.objects.exists()
    assert not leftovers(data_dir)


def test_a_recording_whose_sidecar_is_invalid_is_refused_so_a_fixed_one_can_follow(
    client: Client, org: dict[str, Any], data_dir: Path
) -> None:
    html = upload(client, org["sup1"], files=[audio()],
                  sidecars=[sidecar(content=b'{"segments": "none"}')])

    assert "已拒收：随附转写文件" in html and "segments" in html
    assert not Recording.objects.exists()
    assert not leftovers(data_dir)
    upload(client, org["sup1"], files=[audio()], sidecars=[sidecar()])
    assert Recording.objects.get().sidecar_file.endswith(".transcript.json")


def test_a_sidecar_without_a_recording_of_the_same_name_is_reported_unused(
    client: Client, org: dict[str, Any], data_dir: Path
) -> None:
    html = upload(client, org["sup1"], files=[audio()],
                  sidecars=[sidecar("call_02_bill_inquiry_not_refund")])

    assert "没有同名的录音文件，未使用" in html
    assert Recording.objects.get().sidecar_file == ""
    assert not leftovers(data_dir)


def test_a_file_name_with_markup_is_shown_as_text(client: Client, org: dict[str, Any]) -> None:
    html = upload(client, org["sup1"], files=[text_file('<img src=x onerror="alert(1)">.mp3')])

    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.mp3" in html
    assert Recording.objects.get().original_name == '<img src=x onerror="alert(1)">.mp3'


def test_an_upload_is_written_to_the_audit_log(client: Client, org: dict[str, Any]) -> None:
    upload(client, org["sup1"], files=[audio()])
    upload(client, org["sup1"], files=[audio()])

    recording = Recording.objects.get()
    events = list(AuditEvent.objects.filter(action="recording.upload").order_by("id"))
    assert [(e.username, e.object_type, e.object_id) for e in events] == [
        ("sup1", "recording", str(recording.id))] * 2
    assert [e.details for e in events] == [
        {"name": f"{CALL}.mp3", "sha256": recording.sha256, "created": created}
        for created in (True, False)
    ]


def test_upload_names_lose_paths_and_control_characters_and_keep_their_suffix() -> None:
    assert upload_name("C:\\calls\\..\\a.mp3") == "a.mp3"
    assert upload_name("../../etc/passwd") == "passwd"
    assert upload_name("a\x00b\r\n\u202ec.mp3") == "abc.mp3"
    assert upload_name(None) == ""
    long = upload_name("x" * 300 + ".wav")
    assert len(long) == 255 and long.endswith(".wav")

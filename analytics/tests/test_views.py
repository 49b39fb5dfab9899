from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from analytics.tests.packs import analyzed_call, install
from qa_platform.models import AuditEvent
from transcription.models import Recording


@pytest.fixture
def calls(org: dict[str, Any]) -> dict[str, Recording]:
    install()
    return {
        "team1": analyzed_call("a", org["agent1"], [("agent", "您好"), ("customer", "我要退费")]),
        "team2": analyzed_call("b", org["agent2"], [("customer", "退费！")], engine="funasr"),
        "clean": analyzed_call("c", org["agent1"], [("agent", "您好"), ("customer", "谢谢")]),
        "xss": analyzed_call("d", org["agent1"],
                             [("customer", "<script>alert(1)</script>退费<b>x</b>")]),
    }


def page(client: Client, user: Any, url: str = "/calls/review/") -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_supervisor_sees_their_teams_flagged_calls_only(client: Client, org: dict,
                                                           calls: dict) -> None:
    html = page(client, org["sup1"])
    assert "待复核通话" in html
    assert "CALL-a" in html and "退费诉求" in html
    assert "CALL-b" not in html, "another team's call"
    assert "CALL-c" not in html, "a call the scorecard did not flag"


def test_the_queue_says_where_each_transcript_came_from(client: Client, org: dict,
                                                        calls: dict) -> None:
    html = page(client, org["auditor"])
    assert "随附转写文件" in html and "FunASR 语音识别" in html


def test_an_agent_sees_only_their_own_calls(client: Client, org: dict, calls: dict) -> None:
    html = page(client, org["agent_user"], "/my/calls/")  # the queue sends agents here
    assert "CALL-a" in html and "CALL-b" not in html
    client.force_login(org["agent_user"])
    assert client.get(f"/calls/{calls['team2'].id}/").status_code == 404


def test_a_call_outside_the_users_scope_is_not_found(client: Client, org: dict,
                                                     calls: dict) -> None:
    client.force_login(org["sup1"])
    assert client.get(f"/calls/{calls['team2'].id}/").status_code == 404
    assert client.get("/calls/999999/").status_code == 404


def test_the_call_page_highlights_hits_and_is_audited(client: Client, org: dict,
                                                      calls: dict) -> None:
    html = page(client, org["sup1"], f"/calls/{calls['team1'].id}/")
    assert '<mark class="hit severity-minor"' in html
    assert ">退费</mark>" in html
    event = AuditEvent.objects.get(action="transcript.view")
    assert (event.username, event.object_id) == ("sup1", str(calls["team1"].id))


def test_transcript_text_is_shown_as_text_never_as_markup(client: Client, org: dict,
                                                          calls: dict) -> None:
    html = page(client, org["sup1"], f"/calls/{calls['xss'].id}/")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


def test_the_interface_is_chinese_by_default_and_english_on_request(client: Client, org: dict,
                                                                   calls: dict) -> None:
    client.force_login(org["sup1"])
    assert "待复核通话" in client.get("/calls/review/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/calls/review/"})
    assert client.get("/calls/review/").headers["Content-Language"] == "en"


def test_a_supervisor_dismisses_a_hit_fills_manual_items_and_finalizes(
    client: Client, org: dict, calls: dict
) -> None:
    from analytics.models import CallScore, Hit

    call = calls["team1"]
    hit = Hit.objects.get(recording=call)
    client.force_login(org["sup1"])
    assert CallScore.objects.get(recording=call).flagged
    client.post(f"/calls/{call.id}/hits/{hit.id}/review/",
                {"decision": "dismissed", "comment": "客户只是询问"})  # fmt: skip
    score = CallScore.objects.get(recording=call)
    assert (score.score, score.flagged, score.hit_count) == (100, False, 0)
    response = client.post(f"/calls/{call.id}/manual/", {"manual-attitude": "fail",
                                                         "finalize": "1"})  # fmt: skip
    assert response.status_code == 302
    score.refresh_from_db()
    assert (score.score, score.review_status, score.finalized_by) == (95, "finalized", org["sup1"])
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"hit.review", "score.manual", "score.finalize"} <= actions
    page = client.get(f"/calls/{call.id}/").content.decode()
    assert "已驳回" in page and "客户只是询问" in page
    history = page.split('id="history"')[1]
    for entry in ("复核规则命中", "待确认 → 已驳回", "填写人工评分项", "定稿", "自动分析", "sup1"):
        assert entry in history, entry


def test_finalizing_needs_every_manual_item_and_agents_and_others_cannot_review(
    client: Client, org: dict, calls: dict
) -> None:
    from analytics.models import CallScore, Hit

    call = calls["team1"]
    client.force_login(org["sup1"])
    page = client.post(f"/calls/{call.id}/manual/", {"finalize": "1"},
                       follow=True).content.decode()  # fmt: skip
    assert CallScore.objects.get(recording=call).review_status == "pending"
    assert "请先填写人工评分项：服务态度" in page
    hit = Hit.objects.get(recording=call)
    for user, status in ((org["agent_user"], 403), (org["auditor"], 403), (org["sup2"], 404)):
        client.force_login(user)
        response = client.post(f"/calls/{call.id}/hits/{hit.id}/review/",
                               {"decision": "dismissed"})  # fmt: skip
        assert response.status_code == status
    assert Hit.objects.get(id=hit.id).review == "pending"


def test_the_recording_is_served_with_ranges_to_those_who_may_see_the_call(
    client: Client, org: dict, calls: dict, settings: Any
) -> None:
    from pathlib import Path

    call = calls["team1"]
    audio = bytes(range(256)) * 40
    relative = "audio/2026/11/25/test.mp3"
    path = Path(settings.QA_DATA_DIR) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(audio)
    Recording.objects.filter(id=call.id).update(audio_file=relative)
    url = f"/calls/{call.id}/audio"
    assert "/accounts/login/" in client.get(url)["Location"]
    client.force_login(org["sup1"])
    whole: Any = client.get(url)
    assert (whole.status_code, whole["Content-Type"], whole["Accept-Ranges"]) == (
        200, "audio/mpeg", "bytes")
    assert b"".join(whole.streaming_content) == audio
    part: Any = client.get(url, HTTP_RANGE="bytes=100-299")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-299/{len(audio)}"
    assert b"".join(part.streaming_content) == audio[100:300]
    tail: Any = client.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == audio[-10:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(audio)}-").status_code == 416
    # Starting playback is audited once; seeking (later ranges) is the same listening.
    assert AuditEvent.objects.filter(action="audio.play", object_id=str(call.id)).count() == 1
    client.force_login(org["sup2"])
    assert client.get(url).status_code == 404
    path.unlink()
    client.force_login(org["sup1"])
    gone = client.get(url)
    assert gone.status_code == 410 and "保留期限" in gone.content.decode()


def _mulaw_call(call: Recording, seconds: int = 2) -> Path:
    """Give `call` a stereo 8 kHz G.711 μ-law WAV, as telephony platforms record them."""
    import subprocess

    relative = f"audio/2026/11/25/{call.sha256}.wav"
    path = Path(settings.QA_DATA_DIR) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-ac", "2", "-ar", "8000",
                    "-c:a", "pcm_mulaw", "-y", str(path)], check=True)  # fmt: skip
    Recording.objects.filter(id=call.id).update(audio_file=relative, codec="pcm_mulaw")
    return path


def test_a_g711_recording_is_served_as_pcm_wav_that_browsers_play(
    client: Client, org: dict, calls: dict
) -> None:
    import struct

    call = calls["team1"]
    original = _mulaw_call(call)
    before = original.read_bytes()
    client.force_login(org["sup1"])
    url = f"/calls/{call.id}/audio"
    whole: Any = client.get(url)
    body = b"".join(whole.streaming_content)
    assert (whole.status_code, whole["Content-Type"]) == (200, "audio/wav")
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    audio_format, channels, rate = struct.unpack("<HHI", body[20:28])
    assert (audio_format, channels, rate) == (1, 2, 8000)  # PCM, both channels kept
    assert len(body) > 2 * 8000 * 2 * 2  # two seconds of 16-bit stereo
    part: Any = client.get(url, HTTP_RANGE="bytes=44-1043")
    assert part.status_code == 206 and b"".join(part.streaming_content) == body[44:1044]
    cached = Path(settings.QA_DATA_DIR) / "playback" / f"{call.sha256}.wav"
    made = cached.stat().st_mtime_ns
    client.get(url)
    assert cached.stat().st_mtime_ns == made  # converted once, then reused
    assert original.read_bytes() == before  # the stored original is untouched


def test_a_recording_ffmpeg_cannot_decode_says_why(client: Client, org: dict,
                                                   calls: dict) -> None:  # fmt: skip
    call = calls["team1"]
    _mulaw_call(call).write_bytes(b"RIFF not really audio")
    client.force_login(org["sup1"])
    response = client.get(f"/calls/{call.id}/audio")
    assert response.status_code == 422 and "无法解码音频" in response.content.decode()
    assert not list((Path(settings.QA_DATA_DIR) / "playback").glob("*"))


def test_review_errors_follow_the_chosen_language(client: Client, org: dict, calls: dict,
                                                  settings: Any) -> None:  # fmt: skip
    client.force_login(org["sup1"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.post(f"/calls/{calls['team1'].id}/manual/", {"finalize": "1"},
                       follow=True).content.decode()  # fmt: skip
    assert "Fill in the manual items first" in page

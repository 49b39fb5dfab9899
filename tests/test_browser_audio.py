"""Telephony recordings in codecs browsers do not decode (IMA ADPCM WAV from older call
recorders; chromium answers MEDIA_ERR_SRC_NOT_SUPPORTED) play on the call page: the server
hands the browser PCM WAV."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_adpcm_call_plays_and_seeks_in_the_browser(
    page: Any, live_server: Any, org: dict[str, Any]
) -> None:
    from django.conf import settings

    from analytics.tests.packs import analyzed_call, install
    from transcription.models import Recording

    install()
    call = analyzed_call("adpcm", org["agent1"], [("agent", "您好"), ("customer", "我要退费")])
    relative = f"audio/2026/11/25/{call.sha256}.wav"
    path = Path(settings.QA_DATA_DIR) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=6", "-ac", "2", "-ar", "8000", "-c:a",
                    "adpcm_ima_wav", "-y", str(path)], check=True)  # fmt: skip
    Recording.objects.filter(id=call.id).update(audio_file=relative, codec="adpcm_ima_wav")

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "sup1")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_selector("nav")
    page.goto(f"{live_server.url}/calls/{call.id}/")
    page.wait_for_function("document.getElementById('call-audio').readyState >= 1")
    duration = page.evaluate("document.getElementById('call-audio').duration")
    assert abs(duration - 6) < 0.2, duration
    assert page.evaluate("document.getElementById('call-audio').error") is None
    page.locator(".turn").nth(1).click()  # seeking needs the range requests to work
    start_s = int(page.locator(".turn").nth(1).get_attribute("data-start-ms")) / 1000
    page.wait_for_function(
        f"Math.abs(document.getElementById('call-audio').currentTime - {start_s}) < 1.0")

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from transcription.asr.base import SegmentResult, TranscriptionResult
from transcription.models import Hotword, Recording, RecordingSource
from transcription.models.hotwords import MAX_HOTWORDS_PER_LIST
from transcription.services.hotwords import hotwords_for, recordings_retranscribe
from transcription.services.recordings import (
    transcription_time_limits,
    with_written_numbers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(db: None) -> RecordingSource:
    return RecordingSource.objects.create(name="s", kind="local", remote_dir="/tmp")


def test_a_source_gets_the_global_list_and_its_own(source: RecordingSource) -> None:
    other = RecordingSource.objects.create(name="t", kind="local", remote_dir="/tmp")
    Hotword.objects.create(word="瑞丰银行")
    Hotword.objects.create(word="账单分期", source=source)
    Hotword.objects.create(word="白金卡", source=other)
    Hotword.objects.create(word="瑞丰银行", source=source)
    assert hotwords_for(source) == ("瑞丰银行", "账单分期")
    assert hotwords_for(None) == ("瑞丰银行",)


@pytest.mark.parametrize("word", ["", "   ", "两个 词", "超过十五个字的热词一二三四五六七"])
def test_a_bad_hotword_is_refused(word: str) -> None:
    with pytest.raises(ValidationError):
        Hotword(word=word).full_clean()


def test_a_list_holds_at_most_five_hundred_words(source: RecordingSource) -> None:
    Hotword.objects.bulk_create(Hotword(word=f"词{n}", source=source)
                                for n in range(MAX_HOTWORDS_PER_LIST))
    with pytest.raises(ValidationError, match="500"):
        Hotword(word="再来一个", source=source).full_clean()
    Hotword(word="再来一个").full_clean()  # the global list is a list of its own


def test_a_word_appears_once_per_list(source: RecordingSource) -> None:
    Hotword.objects.create(word="白金卡")
    with pytest.raises(ValidationError):
        Hotword(word="白金卡").full_clean()
    Hotword(word="白金卡", source=source).full_clean()


def test_transcription_time_limits_grow_with_the_audio(settings: Any) -> None:
    settings.ASR_TIME_LIMIT_MIN_S, settings.ASR_TIME_LIMIT_FACTOR = 300, 2
    assert transcription_time_limits(60_000) == (420, 480)
    assert transcription_time_limits(3 * 3600 * 1000)[0] == 300 + 2 * 3 * 3600
    assert transcription_time_limits(None)[0] == 300 + 2 * 3600


def test_every_engines_display_text_gets_written_numbers_and_keeps_what_was_heard() -> None:
    result = TranscriptionResult(
        engine="sidecar", model_version="", language="zh", duration_ms=1,
        segments=[SegmentResult(role="customer", start_ms=0, end_ms=1,
                                raw_text="手机号幺三八", text="手机号幺三八")],
    )
    segment = with_written_numbers(result).segments[0]
    assert segment.text == "手机号138"
    assert segment.raw_text == "手机号幺三八"


def _recording(n: int, status: str, started: datetime | None, data_dir: Any) -> Recording:
    audio = data_dir / f"a{n}.mp3"
    audio.write_bytes(b"x")
    return Recording.objects.create(sha256=f"{n:064d}", size_bytes=1, audio_file=audio.name,
                                    status=status, started_at=started)


def test_a_date_range_is_transcribed_again(data_dir: Any,
                                           django_capture_on_commit_callbacks: Any) -> None:
    day = timezone.make_aware(datetime(2026, 11, 18, 10, 0))
    inside = _recording(1, Recording.Status.ANALYZED, day, data_dir)
    failed = _recording(2, Recording.Status.FAILED, day, data_dir)
    busy = _recording(3, Recording.Status.TRANSCRIBING, day, data_dir)
    outside = _recording(4, Recording.Status.ANALYZED,
                         timezone.make_aware(datetime(2026, 11, 20, 10, 0)), data_dir)
    purged = _recording(5, Recording.Status.ANALYZED, day, data_dir)
    (data_dir / purged.audio_file).unlink()
    with django_capture_on_commit_callbacks() as callbacks:
        queued = recordings_retranscribe(since=date(2026, 11, 18), until=date(2026, 11, 19))
    assert queued == 2 and len(callbacks) == 2
    statuses = dict(Recording.objects.values_list("id", "status"))
    assert statuses[inside.id] == statuses[failed.id] == Recording.Status.RECEIVED
    assert statuses[busy.id] == Recording.Status.TRANSCRIBING
    assert statuses[outside.id] == statuses[purged.id] == Recording.Status.ANALYZED


def test_only_admins_may_retranscribe(client: Client, org: dict[str, Any]) -> None:
    client.force_login(org["sup1"])
    assert client.get("/settings/hotwords/").status_code == 403
    client.force_login(org["admin"])
    response = client.post("/settings/hotwords/", {"since": "2026-11-19", "until": "2026-11-18"})
    assert "结束日期早于起始日期" in response.content.decode()
    response = client.post("/settings/hotwords/", {"since": "2026-11-18", "until": "2026-11-19"})
    assert response.status_code == 302

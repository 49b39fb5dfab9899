"""The pipeline with ASR_MODEL set: calls from SFTP are transcribed by FunASR, not imported."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from transcription.asr import registry
from transcription.models import Recording, RecordingSource
from transcription.services.sources import source_pull
from transcription.tests.asr.conftest import vad_model_dir

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def funasr_selected(settings: Any, tiny_dir: Path, offline: list[str]) -> Iterator[None]:
    settings.ASR_ENGINE = "auto"
    settings.ASR_MODEL = str(tiny_dir)
    settings.ASR_VAD_MODEL = str(vad_model_dir())
    registry._engines.pop("funasr", None)
    yield
    registry._engines.pop("funasr", None)


def test_with_an_asr_model_the_call_is_transcribed_by_funasr_per_channel(
    funasr_selected: None, source: RecordingSource, copy_call: Callable[..., Path],
    offline: list[str],
) -> None:
    call_command("load_rulepack", "standard", verbosity=0)
    copy_call("call_03_lost_card_report")
    source_pull(source_id=source.id)

    recording = Recording.objects.get()
    assert recording.status == Recording.Status.ANALYZED, recording.error
    transcript = recording.transcript
    assert transcript.engine == "funasr"
    assert transcript.model_version.startswith("tiny-paraformer")
    segments = list(transcript.segments.order_by("index"))
    roles = {segment.role for segment in segments}
    assert roles == {"agent", "customer"}, "each stereo channel carries one role"
    assert recording.duration_ms is not None
    assert all(s.start_ms < s.end_ms <= recording.duration_ms + 1000 for s in segments)
    assert [s.start_ms for s in segments] == sorted(s.start_ms for s in segments)
    # Paraformer's character timestamps are kept, inside their segment.
    timed = [s for s in segments if s.char_timestamps]
    assert timed, "no segment kept its character timestamps"
    for segment in timed:
        assert all(segment.start_ms - 50 <= a <= b <= segment.end_ms + 50
                   for a, b in segment.char_timestamps)
    # The words come from ASR, the call facts from the delivered sidecar.
    assert recording.agent is not None and recording.agent.code == "A2007"
    assert offline == [], "no model may be downloaded"

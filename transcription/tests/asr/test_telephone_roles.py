"""A telephone recording — 8 kHz stereo μ-law WAV — through ``FunasrEngine``: channel → role.

Speech is the numpy voiced bursts of ``test_audio`` (always available; the
espeak-ng variant is ``test_vad_espeak``), run through the real FSMN-VAD and the
tiny Paraformer. The left channel is the agent, the right the customer, unless
the request maps the channels otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transcription.asr.audio import probe_audio
from transcription.asr.base import ROLE_AGENT, ROLE_CUSTOMER, SegmentResult
from transcription.asr.base import TranscriptionRequest as Request
from transcription.asr.funasr_engine import FunasrEngine
from transcription.tests.asr.test_audio import (
    AGENT_SPAN,
    CUSTOMER_SPAN,
    PHONE_RATE,
    make_call_recording,
    voiced_burst,
    write_stereo,
)

# The VAD pads speech by a few hundred ms (see test_vad_espeak); μ-law adds nothing.
TOLERANCE_MS = 600


@pytest.fixture(scope="module")
def mulaw_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_call_recording(tmp_path_factory.mktemp("mulaw") / "call.wav")
    info = probe_audio(path)
    assert (info.codec, info.channels, info.sample_rate) == ("pcm_mulaw", 2, PHONE_RATE)
    return path


def _spans(segments: list[SegmentResult], role: str) -> list[tuple[int, int]]:
    return [(s.start_ms, s.end_ms) for s in segments if s.role == role]


def _inside(spans: list[tuple[int, int]], span: tuple[float, float]) -> bool:
    lo, hi = span[0] * 1000 - TOLERANCE_MS, span[1] * 1000 + TOLERANCE_MS
    return bool(spans) and all(lo <= a < b <= hi for a, b in spans)


def test_left_channel_is_agent_and_right_is_customer(
    tiny_engine: FunasrEngine, mulaw_call: Path
) -> None:
    result = tiny_engine.transcribe(Request(audio_path=mulaw_call))
    assert {s.role for s in result.segments} == {ROLE_AGENT, ROLE_CUSTOMER}
    agent, customer = _spans(result.segments, ROLE_AGENT), _spans(result.segments, ROLE_CUSTOMER)
    assert _inside(agent, AGENT_SPAN), agent
    assert _inside(customer, CUSTOMER_SPAN), customer
    # Both bursts are found whole: the first segment starts near the speech, the last
    # ends near its end (no channel swap, no down-mix, no lost channel).
    assert min(a for a, _ in agent) == pytest.approx(AGENT_SPAN[0] * 1000, abs=TOLERANCE_MS)
    assert max(b for _, b in customer) == pytest.approx(CUSTOMER_SPAN[1] * 1000, abs=TOLERANCE_MS)
    assert result.duration_ms == pytest.approx(8000, abs=10)


def test_roles_follow_the_requested_channel_mapping(
    tiny_engine: FunasrEngine, mulaw_call: Path
) -> None:
    # A source that records the customer on the left: the roles swap with the mapping.
    request = Request(audio_path=mulaw_call, channel_roles=(ROLE_CUSTOMER, ROLE_AGENT))
    result = tiny_engine.transcribe(request)
    assert _inside(_spans(result.segments, ROLE_CUSTOMER), AGENT_SPAN)
    assert _inside(_spans(result.segments, ROLE_AGENT), CUSTOMER_SPAN)


@pytest.mark.parametrize("speaking", [ROLE_AGENT, ROLE_CUSTOMER])
def test_speech_on_one_channel_gives_only_that_role(
    tiny_engine: FunasrEngine, tmp_path: Path, speaking: str
) -> None:
    rng = np.random.default_rng(11)
    quiet = [(0.002 * rng.standard_normal(5 * PHONE_RATE)).astype(np.float32) for _ in range(2)]
    talk = quiet[0 if speaking == ROLE_AGENT else 1]
    talk[PHONE_RATE : 3 * PHONE_RATE] += voiced_burst(2.0, seed=9)
    path = write_stereo(tmp_path / "one-sided.wav", quiet[0], quiet[1])
    result = tiny_engine.transcribe(Request(audio_path=path))
    assert result.segments and {s.role for s in result.segments} == {speaking}
    assert _inside(_spans(result.segments, speaking), (1.0, 3.0))

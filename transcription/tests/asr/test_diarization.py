"""Mono-call diarization: clustering and smoothing on synthetic embeddings, then the engine.

The engine tests run the real FSMN-VAD and tiny Paraformer. One uses a tiny,
randomly initialised CAM++ loaded by funasr's AutoModel (real code path; its
clusters are arbitrary), the other injects a pitch-based embedding function so
the two synthetic voices must come out as two different roles.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transcription.asr.base import ROLE_AGENT, ROLE_CUSTOMER, ROLE_UNKNOWN, TranscriptionError
from transcription.asr.base import TranscriptionRequest as Request
from transcription.asr.diarization import (
    MAX_WINDOWS_PER_SEGMENT,
    MIN_EMBED_MS,
    cluster_two,
    diarize,
    fill_short_labels,
    segment_embeddings,
    segment_windows,
)
from transcription.asr.funasr_engine import FunasrConfig, FunasrEngine
from transcription.tests.asr.conftest import vad_model_dir
from transcription.tests.asr.test_audio import PHONE_RATE, encode, make_call_recording

RATE = 16000
# (start_s, end_s, f0_hz) of each turn in the synthetic mono call: a low and a high voice.
MONO_TURNS = ((0.5, 2.5, 120.0), (4.0, 6.0, 240.0), (7.5, 9.5, 120.0), (11.0, 12.5, 240.0))
MONO_SECONDS = 14.0

# Process-wide audit hook (hooks cannot be removed): records file opens for writing
# while a test has switched recording on.
_writes: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _writes is None or event != "open":
        return
    path, mode, flags = (*args, None, None, None)[:3]
    writing = isinstance(mode, str) and any(c in mode for c in "wax+")
    if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        writing = True
    # subprocess opens /dev/null read-write for ffmpeg's stdin.
    if writing and str(path) != os.devnull:
        _writes.append(str(path))


sys.addaudithook(_audit)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


def _voice(seconds: float, f0: float, seed: int, rate: int = PHONE_RATE) -> np.ndarray:
    """A speech-like burst at pitch ``f0`` (cf. test_audio.voiced_burst), harmonics < 3.4 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.8 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    signal = np.zeros_like(t)
    for k in range(1, int(3400 / (1.1 * f0))):
        formants = 1 + 2 * np.exp(-(((k * f0 - 700) / 300) ** 2))
        formants += np.exp(-(((k * f0 - 1800) / 400) ** 2))
        signal += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) * formants / k
    signal *= np.sin(np.pi * 4.5 * t) ** 2
    return (0.5 * signal / np.max(np.abs(signal))).astype(np.float32)


def make_mono_call(path: Path) -> Path:
    """8 kHz μ-law mono: the low voice at 0.5–2.5 s and 7.5–9.5 s, the high one in between."""
    rng = np.random.default_rng(0)
    samples = (0.002 * rng.standard_normal(int(MONO_SECONDS * PHONE_RATE))).astype(np.float32)
    for seed, (a, b, f0) in enumerate(MONO_TURNS):
        clip = _voice(b - a, f0, seed)
        start = int(a * PHONE_RATE)
        samples[start : start + clip.size] += clip
    return encode(path, samples, codec=["pcm_mulaw"])


def pitch_embedding(clips: Sequence[np.ndarray]) -> np.ndarray:
    """Stub speaker model: [1, 0] for a low voice, [0, 1] for a high one (autocorrelation f0)."""
    rows = []
    for clip in clips:
        x = clip - clip.mean()
        spectrum = np.fft.rfft(x, 2 * x.size)
        corr = np.fft.irfft(spectrum * np.conj(spectrum))[: x.size]
        lo, hi = RATE // 400, RATE // 70
        f0 = RATE / (lo + int(np.argmax(corr[lo:hi])))
        rows.append([1.0, 0.0] if f0 < 175 else [0.0, 1.0])
    return np.asarray(rows)


@pytest.fixture(scope="module")
def mono_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mono_call(tmp_path_factory.mktemp("calls") / "mono.wav")


@pytest.fixture
def no_writes(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail if anything opens a file for writing or leaves files in temp/data dirs."""
    global _writes
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    before = _files(data_dir)
    _writes = []
    try:
        yield
        assert _writes == [], f"files opened for writing: {_writes}"
    finally:
        _writes = None
    assert _files(scratch) == set()
    assert _files(data_dir) == before


# --- pure pieces ------------------------------------------------------------------------


def test_cluster_two_separates_noisy_speakers() -> None:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((2, 32))
    truth = np.array([0] * 25 + [1] * 15)
    rng.shuffle(truth)
    vectors = centres[truth] + 0.35 * rng.standard_normal((truth.size, 32))
    vectors *= rng.uniform(0.5, 3.0, (truth.size, 1))  # scale must not matter: cosine
    labels = cluster_two(vectors)
    assert set(labels) == {0, 1}
    assert np.array_equal(labels, truth) or np.array_equal(labels, 1 - truth)


def test_cluster_two_degenerate_inputs() -> None:
    assert cluster_two(np.zeros((0, 4))).tolist() == []
    assert cluster_two(np.ones((1, 4))).tolist() == [0]
    assert cluster_two(np.ones((5, 4))).tolist() == [0] * 5


def test_short_segments_take_the_nearest_label_in_time() -> None:
    spans = [(0, 2000), (2100, 2400), (5000, 7000), (7050, 7300), (9000, 9200)]
    labels: list[int | None] = [0, None, 1, None, None]
    assert fill_short_labels(spans, labels) == [0, 0, 1, 1, 1]
    # Equidistant: the earlier neighbour wins.
    assert fill_short_labels([(0, 1000), (1500, 1600), (2100, 3000)], [1, None, 0]) == [1, 1, 0]
    assert fill_short_labels([(0, 100), (200, 300)], [None, None]) == [0, 0]


def test_segment_windows_are_capped_views_covering_both_ends() -> None:
    clip = np.arange(RATE * 30, dtype=np.float32)
    windows = segment_windows(clip, RATE)
    assert len(windows) == MAX_WINDOWS_PER_SEGMENT
    assert {w.size for w in windows} == {int(1.5 * RATE)}
    assert all(w.base is clip for w in windows)
    assert windows[0][0] == 0 and windows[-1][-1] == clip[-1]
    short = clip[:RATE]
    assert len(segment_windows(short, RATE)) == 1
    assert len(segment_windows(clip[: int(2.25 * RATE)], RATE)) == 2
    assert len(segment_windows(clip[: int(4.6 * RATE)], RATE)) == 4


def test_segment_embeddings_average_windows_and_batch_equal_lengths() -> None:
    calls: list[list[int]] = []

    def embed(clips: Sequence[np.ndarray]) -> np.ndarray:
        calls.append([c.size for c in clips])
        return np.array([[float(c[0] > 0), float(c[0] <= 0), 0.0] for c in clips])

    clips = [np.full(RATE * 4, 1.0), np.full(RATE, -1.0), np.full(RATE * 2, 1.0)]
    embeddings = segment_embeddings(clips, embed, RATE)
    assert embeddings.shape == (3, 3)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0)
    assert np.allclose(embeddings[0], [1, 0, 0]) and np.allclose(embeddings[1], [0, 1, 0])
    # One call per window length, never a padded mix.
    assert all(len(set(sizes)) == 1 for sizes in calls)


def test_diarize_labels_speakers_and_smooths_short_segments() -> None:
    # Clip value encodes the speaker; the stub model reads it back as a direction.
    speakers = [1, 1, 0, 1, 0, 0]
    spans = [(0, 800), (1000, 3000), (3100, 3400), (4000, 6000), (6500, 9000), (9100, 9300)]
    clips = [
        np.full((b - a) * RATE // 1000, 0.1 + s) for s, (a, b) in zip(speakers, spans, strict=True)
    ]
    seen: list[int] = []

    def embed(batch: Sequence[np.ndarray]) -> np.ndarray:
        seen.extend(c.size for c in batch)
        return np.array([[c[0], 1.2 - c[0]] for c in batch])

    labels = diarize(clips, spans, embed, RATE)
    # Label 0 is whoever speaks first; the 300 ms and 200 ms blips follow their neighbours.
    assert labels == [0, 0, 0, 0, 1, 1]
    assert min(seen) >= MIN_EMBED_MS * RATE // 1000


def test_diarize_without_reliable_segments_gives_one_speaker() -> None:
    clips = [np.zeros(RATE // 4), np.zeros(RATE // 5)]

    def embed(batch: Sequence[np.ndarray]) -> np.ndarray:
        raise AssertionError("short segments must not be embedded")

    assert diarize(clips, [(0, 250), (1000, 1200)], embed, RATE) == [0, 0]
    assert diarize([], [], embed, RATE) == []


# --- the engine on a mono call ----------------------------------------------------------


def _turn_of(segment: Any) -> int:
    """Index of the MONO_TURNS entry a segment lies in (by its midpoint)."""
    mid = (segment.start_ms + segment.end_ms) / 2000
    return min(range(len(MONO_TURNS)), key=lambda i: abs(mid - sum(MONO_TURNS[i][:2]) / 2))


def test_injected_speaker_model_splits_voices_into_roles(
    tiny_dir: Path, mono_path: Path, offline: list[str]
) -> None:
    calls: list[int] = []

    def embed(clips: Sequence[np.ndarray]) -> np.ndarray:
        calls.append(len(clips))
        return pitch_embedding(clips)

    engine = FunasrEngine(
        FunasrConfig(model_dir=str(tiny_dir), vad_dir=str(vad_model_dir())), embed=embed
    )
    vad_opts = engine.vad_model.model.vad_opts
    default_silence = vad_opts.max_end_silence_time
    result = engine.transcribe(Request(audio_path=mono_path, channel_roles=(ROLE_UNKNOWN,)))
    assert calls and "diarize" in result.timings
    # The fixed mono end-silence must not leak into later (stereo) calls.
    assert vad_opts.max_end_silence_time == default_silence
    roles_by_turn: dict[int, set[str]] = {}
    for segment in result.segments:
        roles_by_turn.setdefault(_turn_of(segment), set()).add(segment.role)
    assert set(roles_by_turn) == {0, 1, 2, 3}
    assert all(len(roles) == 1 for roles in roles_by_turn.values())
    low = roles_by_turn[0] | roles_by_turn[2]
    high = roles_by_turn[1] | roles_by_turn[3]
    assert len(low) == len(high) == 1 and low | high == {ROLE_AGENT, ROLE_CUSTOMER}
    assert offline == []


def test_tiny_campplus_diarizes_mono_in_memory_only(
    tiny_dir: Path,
    tiny_campplus_dir: Path,
    mono_path: Path,
    offline: list[str],
    no_writes: None,
) -> None:
    engine = FunasrEngine(
        FunasrConfig(
            model_dir=str(tiny_dir), vad_dir=str(vad_model_dir()), spk_dir=str(tiny_campplus_dir)
        )
    )
    assert engine.spk_model is not None
    assert type(engine.spk_model.model).__name__ == "CAMPPlus"
    result = engine.transcribe(Request(audio_path=mono_path, channel_roles=(ROLE_UNKNOWN,)))
    assert result.segments and "diarize" in result.timings
    # Random weights: which voice is which is arbitrary, but every segment gets a real role.
    assert {s.role for s in result.segments} <= {ROLE_AGENT, ROLE_CUSTOMER}
    assert not hasattr(engine, "embeddings")
    assert offline == []


def test_stereo_calls_are_never_diarized(
    tiny_dir: Path, tmp_path: Path, offline: list[str]
) -> None:
    def embed(clips: Sequence[np.ndarray]) -> np.ndarray:
        raise AssertionError("a stereo call has its roles from the channels")

    engine = FunasrEngine(
        FunasrConfig(model_dir=str(tiny_dir), vad_dir=str(vad_model_dir())), embed=embed
    )
    call = make_call_recording(tmp_path / "call.wav")
    result = engine.transcribe(Request(audio_path=call))
    assert {s.role for s in result.segments} == {ROLE_AGENT, ROLE_CUSTOMER}
    assert "diarize" not in result.timings
    # A mono call whose source says who is on the line keeps that role.
    mono = make_mono_call(tmp_path / "mono.wav")
    result = engine.transcribe(Request(audio_path=mono, channel_roles=(ROLE_AGENT,)))
    assert {s.role for s in result.segments} == {ROLE_AGENT}


def test_speaker_model_settings_are_checked_before_loading(
    tiny_dir: Path, tmp_path: Path, offline: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import funasr

    built: list[Any] = []
    monkeypatch.setattr(funasr, "AutoModel", lambda **kw: built.append(kw))
    base = FunasrConfig(model_dir=str(tiny_dir), vad_dir=str(vad_model_dir()))
    with pytest.raises(TranscriptionError, match="说话人模型目录不存在"):
        FunasrEngine(dataclasses.replace(base, spk_dir=str(tmp_path / "campplus")))
    with pytest.raises(TranscriptionError, match="单声道角色"):
        FunasrEngine(dataclasses.replace(base, mono_fallback="last"))
    assert built == [] and offline == []

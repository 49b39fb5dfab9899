"""Tests for ffmpeg probing/decoding, plus the synthetic call recordings other ASR tests use.

Test audio is made offline: numpy "voiced" bursts (a gliding harmonic series with
a syllable-rate envelope, which the real FSMN-VAD accepts as speech), encoded by
ffmpeg as 8 kHz stereo telephone audio — agent on the left at 1–3 s, customer on
the right at 4–6 s. Real (synthetic) speech comes from espeak-ng's Mandarin voice;
the tests that use it skip without espeak-ng, except in CI (see ``require_espeak``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from transcription.asr.audio import (
    AudioInfo,
    DecodedAudio,
    NotAudioError,
    decode_channels,
    probe_audio,
)
from transcription.asr.base import TranscriptionError

PHONE_RATE = 8000
CALL_SECONDS = 8.0
# (start_s, end_s) of the speech placed on each channel.
AGENT_SPAN = (1.0, 3.0)
CUSTOMER_SPAN = (4.0, 6.0)
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
# espeak-ng 1.51's plain "cmn" voice reads many hanzi as English-spelled pinyin;
# this is the same Mandarin voice with proper pinyin (and the VAD finds it alike).
ESPEAK_VOICE = "cmn-latn-pinyin"


def voiced_burst(seconds: float, *, seed: int, rate: int = PHONE_RATE) -> np.ndarray:
    """Speech-like float32 signal: harmonics of a gliding ~130 Hz pitch up to 3 kHz.

    Formant bumps near 700 Hz and 1.8 kHz and a 4.5 Hz syllable envelope make the
    FSMN-VAD classify it as speech (plain tones or white noise are not reliable).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 130 + 25 * np.sin(2 * np.pi * 0.8 * t) + 10 * rng.standard_normal()
    phase = 2 * np.pi * np.cumsum(f0) / rate
    signal = np.zeros_like(t)
    for k in range(1, 20):
        formants = 1 + 2 * np.exp(-(((k * 150 - 700) / 300) ** 2))
        formants += np.exp(-(((k * 150 - 1800) / 400) ** 2))
        signal += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) * formants / k
    signal *= np.sin(np.pi * 4.5 * t) ** 2
    out: np.ndarray = (0.5 * signal / np.max(np.abs(signal))).astype(np.float32)
    return out


def espeak_clip(
    text: str, seconds: float | None = None, rate: int = PHONE_RATE, *, speed: int = 200
) -> np.ndarray | None:
    """Mandarin espeak-ng speech at ``rate``, peak 0.9, cut to ``seconds``; None without espeak.

    The clip keeps espeak's own leading/trailing silence (a few ms before, ~300 ms after).
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return None
    wav = subprocess.run(
        [espeak, "-v", ESPEAK_VOICE, "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    raw = subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "f32le",
            "pipe:1",
        ],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    clip = np.frombuffer(raw, dtype="<f4")
    if seconds is not None:
        clip = clip[: int(seconds * rate)]
    return (0.9 * clip / max(float(np.max(np.abs(clip))), 1e-6)).astype(np.float32)


def write_stereo(path: Path, left: np.ndarray, right: np.ndarray, rate: int = PHONE_RATE) -> Path:
    """Encode two float32 channels with ffmpeg: MP3 for .mp3, μ-law for .wav."""
    codec = ["libmp3lame", "-b:a", "32k"] if path.suffix == ".mp3" else ["pcm_mulaw"]
    return encode(path, np.stack([left, right], axis=1), codec=codec, rate=rate)


def encode(path: Path, samples: np.ndarray, *, codec: list[str], rate: int = PHONE_RATE) -> Path:
    """Encode float32 samples (frames × channels, or mono) with ffmpeg's codec arguments."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    subprocess.run(
        [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-f", "f32le", "-ar", str(rate),
         "-ac", str(channels), "-i", "pipe:0", "-c:a", *codec, str(path)],
        input=samples.astype("<f4").tobytes(),
        check=True,
    )
    return path


def make_call_recording(path: Path, *, espeak: bool = False) -> Path:
    """Write an 8 kHz stereo call: agent speech left at 1–3 s, customer right at 4–6 s."""
    n = int(CALL_SECONDS * PHONE_RATE)
    rng = np.random.default_rng(0)
    # A faint noise floor, like a real line; digital silence is unrealistically easy.
    left = (0.002 * rng.standard_normal(n)).astype(np.float32)
    right = (0.002 * rng.standard_normal(n)).astype(np.float32)
    for channel, (a, b), seed, phrase in (
        (left, AGENT_SPAN, 1, "您好，请问有什么可以帮您"),
        (right, CUSTOMER_SPAN, 2, "我想查询一下账单"),
    ):
        clip = espeak_clip(phrase, b - a) if espeak else voiced_burst(b - a, seed=seed)
        if clip is None:
            raise RuntimeError("espeak-ng is not installed")
        start = int(a * PHONE_RATE)
        channel[start : start + clip.size] += clip
    return write_stereo(path, left, right)


@pytest.fixture(scope="module")
def call_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic stereo call as 8 kHz MP3."""
    return make_call_recording(tmp_path_factory.mktemp("audio") / "call.mp3")


@pytest.mark.parametrize("suffix", [".mp3", ".wav"])
def test_decode_8k_stereo_gives_two_16k_channels(tmp_path: Path, suffix: str) -> None:
    path = make_call_recording(tmp_path / f"call{suffix}")
    decoded = decode_channels(path)
    assert isinstance(decoded, DecodedAudio)
    assert decoded.sample_rate == 16000
    assert len(decoded.channels) == 2
    for samples in decoded.channels:
        assert samples.dtype == np.float32
        assert samples.ndim == 1
        assert samples.flags.writeable and samples.flags.c_contiguous
        assert samples.size == pytest.approx(CALL_SECONDS * 16000, abs=160)
    assert decoded.duration_ms == pytest.approx(CALL_SECONDS * 1000, abs=10)


def test_decode_keeps_channels_apart(call_mp3: Path) -> None:
    left, right = decode_channels(call_mp3).channels

    def rms(x: np.ndarray, a: float, b: float) -> float:
        return float(np.sqrt(np.mean(x[int(a * 16000) : int(b * 16000)] ** 2)))

    # Speech only where it was placed: no down-mix, no channel swap.
    assert rms(left, *AGENT_SPAN) > 20 * rms(right, *AGENT_SPAN)
    assert rms(right, *CUSTOMER_SPAN) > 20 * rms(left, *CUSTOMER_SPAN)


def test_decode_mono_wav(tmp_path: Path) -> None:
    path = encode(tmp_path / "mono.wav", voiced_burst(1.5, seed=3), codec=["pcm_alaw"])
    decoded = decode_channels(path)
    assert len(decoded.channels) == 1
    assert decoded.duration_ms == pytest.approx(1500, abs=10)


def test_probe_reports_stream_facts(call_mp3: Path) -> None:
    info = probe_audio(call_mp3)
    assert isinstance(info, AudioInfo)
    assert (info.codec, info.channels, info.sample_rate) == ("mp3", 2, 8000)
    assert info.format_name == "mp3"
    assert info.duration_ms is not None
    # MP3 frames pad the end a little; the container duration is approximate.
    assert info.duration_ms == pytest.approx(CALL_SECONDS * 1000, abs=300)


def test_decode_of_non_audio_raises_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("这不是音频文件，只是一段文字。\n" * 20, encoding="utf-8")
    with pytest.raises(TranscriptionError, match=r"^无法解码音频："):
        decode_channels(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("readme.txt", "hello, this is plain text\n"),
        ("empty.wav", ""),
        ("random.bin", None),
    ],
)
def test_probe_rejects_non_audio(tmp_path: Path, name: str, content: str | None) -> None:
    path = tmp_path / name
    if content is None:
        path.write_bytes(np.random.default_rng(1).bytes(4096))
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(NotAudioError) as info:
        probe_audio(path)
    assert info.value.reason
    assert isinstance(info.value, TranscriptionError)


def test_probe_rejects_file_without_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=8x8",
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
    )
    with pytest.raises(NotAudioError, match="不包含音频流"):
        probe_audio(path)


def test_probe_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotAudioError, match="文件不存在"):
        probe_audio(tmp_path / "gone.wav")


def test_odd_file_names_are_not_reinterpreted(tmp_path: Path) -> None:
    # A name that ffmpeg would otherwise parse as a protocol ("concat:") or an option.
    folder = tmp_path / "concat:x"
    folder.mkdir()
    path = make_call_recording(folder / "-call.wav")
    assert probe_audio(path).channels == 2
    assert len(decode_channels(path).channels) == 2


def test_a_known_channel_count_decodes_the_same_without_probing_again(call_mp3: Path) -> None:
    probed = decode_channels(call_mp3)
    known = decode_channels(call_mp3, channel_count=2)
    assert len(known.channels) == 2
    assert known.duration_ms == probed.duration_ms
    assert np.array_equal(known.channels[0], probed.channels[0])

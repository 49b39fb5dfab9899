"""FunASR engine: per-channel FSMN-VAD, batched ASR, optional punctuation, all local.

One ``FunasrEngine`` is built per worker process; it loads the models once from
local directories and is then called for many recordings (not thread-safe).
Each channel of a call is transcribed separately so the agent/customer role of
every segment comes from the channel it was spoken on. Only a mono recording
with an unknown role is diarized (CAM++ speaker embeddings, two clusters), and
only when a speaker model is configured.

Nothing here may reach a model hub: see ``funasr_models``.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_i18n import msg
from transcription.asr.audio import TARGET_SAMPLE_RATE, decode_channels
from transcription.asr.base import (
    ROLE_UNKNOWN,
    SegmentResult,
    TranscriptionError,
    TranscriptionRequest,
    TranscriptionResult,
)
from transcription.asr.diarization import CampplusEmbedder, EmbedFn, diarize
from transcription.asr.funasr_models import (
    check_model_dir,
    force_offline,
    free_accelerator_memory,
    hotword_kwargs,
    is_oom,
    load_auto_model,
    memory_word,
    model_class_name,
    model_kwargs,
    model_traits,
    model_version,
    oom_as_error,
    resolve_device,
)
from transcription.asr.model_output import (
    char_timestamps,
    normalize_text,
    parse_rich_text,
    timestamp_units,
)
from transcription.asr.roles import FALLBACK_FIRST, FALLBACKS, roles_for_turns

# Re-exported: callers and tests import these from the engine module.
__all__ = [
    "FunasrConfig",
    "FunasrEngine",
    "model_version",
    "normalize_text",
    "plan_batches",
    "resolve_device",
    "split_span",
]

logger = logging.getLogger(__name__)

# Fbank needs at least one 25 ms frame; VAD blips shorter than this carry no words.
MIN_ASR_SEGMENT_MS = 60
# Mono calls to diarize end a VAD segment after this much silence: the default
# schedule waits up to 2 s early in a call, merging agent and customer turns.
MONO_END_SILENCE_MS = 500


@dataclass(frozen=True)
class FunasrConfig:
    """Where the local models live and how to run them."""

    model_dir: str
    vad_dir: str
    punc_dir: str | None = None
    device: str = "auto"
    # Audio seconds per ASR batch (padded length x count); halved on CUDA OOM.
    batch_size_s: int = 300
    # Longer VAD segments are cut into equal chunks no longer than this.
    max_segment_ms: int = 30000
    # Torch CPU threads; funasr re-applies this process-wide on every call.
    ncpu: int = 4
    # CAM++ speaker-verification model; enables agent/customer roles on mono calls.
    spk_dir: str | None = None
    # Mono role when no greeting decides: "first" / "second" speaker is the agent, or "unknown".
    mono_fallback: str = FALLBACK_FIRST


@dataclass(frozen=True)
class _Segment:
    """One stretch of speech on one channel, cut out for recognition."""

    role: str
    start_ms: int
    end_ms: int
    # A view into the decoded channel (no copy), valid while the channel lives.
    samples: np.ndarray


def split_span(start_ms: int, end_ms: int, max_ms: int) -> list[tuple[int, int]]:
    """Cut [start, end) into the fewest equal chunks no longer than ``max_ms``."""
    length = end_ms - start_ms
    if length <= max_ms:
        return [(start_ms, end_ms)]
    parts = math.ceil(length / max_ms)
    bounds = [start_ms + round(length * i / parts) for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))


def plan_batches(durations_ms: Sequence[int], budget_ms: int) -> list[list[int]]:
    """Group indices, shortest first, so padded length x count stays within the budget.

    Inside a batch the longest segment comes last: funasr 1.4.16's CIF crashes
    (IndexError) when the last item of a batch fires no token.
    """
    order = sorted(range(len(durations_ms)), key=lambda i: durations_ms[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and durations_ms[i] * (len(current) + 1) > budget_ms:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


# FSMN-VAD pads each utterance by 200 ms before and 100 ms after by default; with these
# settings its boundaries land within 300 ms of the speech (measured on espeak speech
# in 8 kHz telephone audio, see transcription/tests/asr/test_vad_espeak.py).
_VAD_LOOKBACK_START_MS = 100
_VAD_LOOKAHEAD_END_MS = 0
_VAD_TAIL = np.zeros(2100 * TARGET_SAMPLE_RATE // 1000, dtype=np.float32)


def _tighten_vad_padding(vad_model: Any) -> None:
    """Set the VAD's padding once at load; generate() cannot take these options."""
    opts = getattr(getattr(vad_model, "model", None), "vad_opts", None)
    if opts is not None:
        opts.lookback_time_start_point = _VAD_LOOKBACK_START_MS
        opts.lookahead_time_end_point = _VAD_LOOKAHEAD_END_MS


class FunasrEngine:
    """AsrEngine backed by local FunASR models (VAD + ASR + optional punctuation/speaker)."""

    name = "funasr"

    def __init__(self, config: FunasrConfig, *, embed: EmbedFn | None = None) -> None:
        """Check the directories and load every model once; raises TranscriptionError.

        ``embed`` replaces the speaker model's embedding function (tests, other
        speaker models); without it and without ``spk_dir`` mono calls stay "unknown".
        """
        self.config = config
        if config.mono_fallback not in FALLBACKS:
            raise TranscriptionError(
                msg(
                    "单声道角色兜底设置无效：{value}（可选：{choices}）",
                    value=repr(config.mono_fallback),
                    choices="、".join(FALLBACKS),
                )
            )
        # Check all paths before importing funasr, so a typo never becomes a hub download.
        model_dir = check_model_dir(config.model_dir, msg("识别"))
        vad_dir = check_model_dir(config.vad_dir, msg("VAD "))
        punc_dir = check_model_dir(config.punc_dir, msg("标点")) if config.punc_dir else None
        spk_dir = check_model_dir(config.spk_dir, msg("说话人")) if config.spk_dir else None
        force_offline()
        self.device = resolve_device(config.device)
        self.model_version = model_version(model_dir)
        self.vad_model = self._load(vad_dir)
        _tighten_vad_padding(self.vad_model)
        self.asr_model = self._load(model_dir)
        self.punc_model = self._load(punc_dir) if punc_dir else None
        self.spk_model = self._load(spk_dir) if spk_dir else None
        self.embed: EmbedFn | None = embed
        if self.embed is None and self.spk_model is not None:
            self.embed = CampplusEmbedder(self.spk_model)
        # The loaded class decides; config.yaml's `model:` covers registry aliases.
        self.model_class = type(self.asr_model.model).__name__
        traits = model_traits(self.model_class, model_class_name(model_dir))
        self.family = traits.family
        self.hotword_kwarg = traits.hotword_kwarg
        self.native_punctuation = traits.native_punctuation

    def _load(self, model_dir: Path) -> Any:
        """Build one funasr AutoModel from an existing local directory."""
        return load_auto_model(model_dir, device=self.device, ncpu=self.config.ncpu)

    def generate_kwargs(
        self, request: TranscriptionRequest
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Every generate() keyword this model reads for ``request``, and ignored hotwords."""
        extra, ignored = hotword_kwargs(self.hotword_kwarg, request.hotwords)
        return {**model_kwargs(self.family, request.language), **extra}, ignored

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        """Transcribe every channel of the recording; segments sorted by (start, role)."""
        timings = {"decode": 0.0, "vad": 0.0, "asr": 0.0, "punc": 0.0}
        t0 = time.perf_counter()
        audio = decode_channels(
            request.audio_path, sample_rate=TARGET_SAMPLE_RATE, channel_count=request.channels
        )
        timings["decode"] = time.perf_counter() - t0

        roles = request.channel_roles
        # Diarize only a mono call whose single channel has no role from the source.
        diarized = (
            self.embed is not None
            and len(audio.channels) == 1
            and (roles[0] if roles else ROLE_UNKNOWN) == ROLE_UNKNOWN
        )
        t0 = time.perf_counter()
        pieces: list[_Segment] = []
        for index, samples in enumerate(audio.channels):
            role = roles[index] if index < len(roles) else ROLE_UNKNOWN
            silence = MONO_END_SILENCE_MS if diarized else None
            pieces.extend(self._vad_segments(samples, role, end_silence_ms=silence))
        timings["vad"] = time.perf_counter() - t0

        extra, ignored = self.generate_kwargs(request)
        t0 = time.perf_counter()
        results = self._recognise([p.samples for p in pieces], extra)
        timings["asr"] = time.perf_counter() - t0

        roles_by_piece = [p.role for p in pieces]
        if diarized and pieces:
            t0 = time.perf_counter()
            texts = [parse_rich_text(str(r.get("text", ""))).text for r in results]
            roles_by_piece = self._mono_roles(pieces, texts)
            timings["diarize"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        segments: list[SegmentResult] = []
        for piece, role, result in zip(pieces, roles_by_piece, results, strict=True):
            segment = self._segment(piece, role, result)
            if segment is not None:
                segments.append(segment)
        timings["punc"] = time.perf_counter() - t0
        segments.sort(key=lambda s: (s.start_ms, s.role, s.end_ms))
        return TranscriptionResult(
            engine=self.name,
            model_version=self.model_version,
            language=request.language,
            duration_ms=audio.duration_ms,
            segments=segments,
            timings=timings,
            ignored_hotwords=ignored,
        )

    def _segment(self, piece: _Segment, role: str, result: dict[str, Any]) -> SegmentResult | None:
        """The SegmentResult for one recognised piece; None when it holds no words."""
        rich = parse_rich_text(str(result.get("text", "")))
        raw = rich.text
        if not raw:
            return None
        units, spans = timestamp_units(result)
        stamps = tuple(
            (min(max(a, piece.start_ms), piece.end_ms), min(max(b, piece.start_ms), piece.end_ms))
            for a, b in char_timestamps(raw, units, spans, piece.start_ms)
        )
        use_punc = self.punc_model is not None and not self.native_punctuation
        text = self._punctuate(raw) if use_punc else raw
        return SegmentResult(
            role=role,
            start_ms=piece.start_ms,
            end_ms=piece.end_ms,
            raw_text=raw,
            text=text,
            emotion=rich.emotion,
            char_timestamps=stamps,
            language=rich.language,
        )

    def _mono_roles(self, pieces: Sequence[_Segment], texts: Sequence[str]) -> list[str]:
        """Agent/customer per piece of a mono call from speaker clusters and greetings."""
        assert self.embed is not None
        spans = [(p.start_ms, p.end_ms) for p in pieces]
        with oom_as_error(msg("说话人")):
            labels = diarize([p.samples for p in pieces], spans, self.embed, TARGET_SAMPLE_RATE)
        turns = [
            (label, p.start_ms, text) for label, p, text in zip(labels, pieces, texts, strict=True)
        ]
        # Only pieces with words vote: a noise blip must not count as "speaking first".
        spoken = [turn for turn in turns if turn[2]]
        roles = roles_for_turns(spoken, self.config.mono_fallback)
        by_label = {turn[0]: role for turn, role in zip(spoken, roles, strict=True)}
        return [by_label.get(label, ROLE_UNKNOWN) for label, _, _ in turns]

    def _vad_segments(
        self, samples: np.ndarray, role: str, *, end_silence_ms: int | None = None
    ) -> list[_Segment]:
        """Speech spans of one channel, split to max_segment_ms, with their samples.

        ``end_silence_ms`` replaces the VAD's default silence schedule (which lets
        up to 2 s of silence through early in a call) with a fixed threshold.
        """
        if samples.size == 0:
            return []
        extra = {} if end_silence_ms is None else {"max_end_silence_time": end_silence_ms}
        # funasr stores max_end_silence_time on the model; restore it for later calls.
        opts = getattr(getattr(self.vad_model, "model", None), "vad_opts", None)
        saved = getattr(opts, "max_end_silence_time", None)
        try:
            with oom_as_error("VAD"):
                # Trailing silence closes the last utterance: without it, speech followed by
                # under ~2 s of silence would run to the end of the file.
                padded = np.concatenate([samples, _VAD_TAIL])
                result = self.vad_model.generate(input=padded, **extra)
                del padded
        finally:
            if opts is not None and saved is not None:
                opts.max_end_silence_time = saved
        spans = result[0].get("value", []) if result else []
        total_ms = samples.size * 1000 // TARGET_SAMPLE_RATE
        out: list[_Segment] = []
        for start, end in spans:
            # A still-open segment is reported with end -1; it runs to the end.
            start_ms = max(int(start), 0)
            if start_ms >= total_ms:
                continue  # found in the appended silence: nothing real
            end_ms = total_ms if end < 0 else min(int(end), total_ms)
            for a, b in split_span(start_ms, end_ms, self.config.max_segment_ms):
                if b - a < MIN_ASR_SEGMENT_MS:
                    continue
                # Basic slicing gives a view: a 70-minute call is never copied per segment.
                cut = samples[a * TARGET_SAMPLE_RATE // 1000 : b * TARGET_SAMPLE_RATE // 1000]
                out.append(_Segment(role, a, b, cut))
        return out

    def _recognise(self, arrays: list[np.ndarray], extra: dict[str, Any]) -> list[dict[str, Any]]:
        """funasr result per array, batched by audio duration; halves batches on CUDA OOM."""
        results: list[dict[str, Any]] = [{} for _ in arrays]
        durations = [a.size * 1000 // TARGET_SAMPLE_RATE for a in arrays]
        budget_ms = max(int(self.config.batch_size_s * 1000), 1)
        pending = plan_batches(durations, budget_ms)
        while pending:
            batch = pending.pop(0)
            try:
                outputs = self._generate_batch([arrays[i] for i in batch], extra)
            except Exception as exc:
                if not is_oom(exc):
                    raise
                free_accelerator_memory()
                if len(batch) == 1:
                    seconds = durations[batch[0]] / 1000
                    raise TranscriptionError(
                        msg(
                            "{memory}不足：单个 {seconds} 秒的语音片段也无法识别，"
                            "请调小 max_segment_ms 或改用 CPU/更大显存的设备",
                            memory=memory_word(exc),
                            seconds=f"{seconds:.0f}",
                        )
                    ) from exc
                budget_ms = max(budget_ms // 2, 1)
                logger.warning(
                    "ASR out of memory; retrying with batch_size_s=%.1f", budget_ms / 1000
                )
                rest = [i for b in [batch, *pending] for i in b]
                replanned = plan_batches([durations[i] for i in rest], budget_ms)
                pending = [[rest[j] for j in b] for b in replanned]
                continue
            for i, output in zip(batch, outputs, strict=True):
                results[i] = output
        return results

    def _generate_batch(
        self, arrays: list[np.ndarray], extra: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """One funasr generate() call; falls back to one-by-one if the batch misbehaves."""
        try:
            results = self.asr_model.generate(input=arrays, batch_size=len(arrays), **extra)
        except IndexError:
            if len(arrays) == 1:
                raise
            # funasr's CIF indexes past the end when a batch member fires no token.
            logger.warning("funasr batch of %d failed; decoding one by one", len(arrays))
            return [self._generate_batch([a], extra)[0] for a in arrays]
        outputs = [r if isinstance(r, dict) else {} for r in results]
        if len(outputs) == len(arrays):
            return outputs
        if not any(str(r.get("text", "")) for r in outputs):
            # Paraformer returns a single placeholder when no item produced a token.
            return [{} for _ in arrays]
        if len(arrays) == 1:
            raise TranscriptionError(
                msg("识别结果数量异常：{count} 条结果对应 1 个片段", count=len(outputs))
            )
        return [self._generate_batch([a], extra)[0] for a in arrays]

    def _punctuate(self, text: str) -> str:
        """Punctuated text from the punctuation model; the raw text if it returns nothing."""
        assert self.punc_model is not None
        with oom_as_error(msg("标点")):
            result = self.punc_model.generate(input=text)
        punctuated = normalize_text(str(result[0].get("text", ""))) if result else ""
        return punctuated or text

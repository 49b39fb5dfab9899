"""FunASR engine: per-channel FSMN-VAD, batched ASR, optional punctuation, all local.

One ``FunasrEngine`` is built per worker process; it loads the models once from
local directories and is then called for many recordings (not thread-safe).
Each channel of a call is transcribed separately so the agent/customer role of
every segment comes from the channel it was spoken on, not from diarization.

Nothing here may reach a model hub: directories are checked before funasr sees
them, because funasr treats any string that is not an existing path as a hub
model id and downloads it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transcription.asr.audio import TARGET_SAMPLE_RATE, decode_channels
from transcription.asr.base import (
    ROLE_UNKNOWN,
    SegmentResult,
    TranscriptionError,
    TranscriptionRequest,
    TranscriptionResult,
)

logger = logging.getLogger(__name__)

# Model classes that read hotwords, and the generate() keyword each one reads.
HOTWORD_KWARG_BY_MODEL = {
    "SeacoParaformer": "hotword",  # space-separated string
    "ContextualParaformer": "hotword",  # space-separated string
    "FunASRNano": "hotwords",  # list of strings, put into the LLM prompt
}
# Fbank needs at least one 25 ms frame; VAD blips shorter than this carry no words.
MIN_ASR_SEGMENT_MS = 60
# SeACo treats a hotword string starting with "http" as a URL to fetch, or ending
# with ".txt" as a file to read; such "hotwords" are refused instead.
_UNSAFE_HOTWORD = re.compile(r"^https?:|://|\.txt$", re.IGNORECASE)
_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_RICH_TAG = re.compile(r"<\|[^|]*\|>")


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


@dataclass(frozen=True)
class _Segment:
    """One stretch of speech on one channel, cut out for recognition."""

    role: str
    start_ms: int
    end_ms: int
    samples: np.ndarray


def resolve_device(requested: str = "auto") -> str:
    """Return ``requested`` unless it is "auto"; then the best of cuda, mps, cpu."""
    if requested != "auto":
        return requested
    import torch

    cuda = getattr(torch, "cuda", None)
    if cuda is not None and cuda.is_available():
        return "cuda"
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def force_offline() -> None:
    """Make hub clients refuse network access for the whole process (on-prem product)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    # Not read by today's modelscope, but honoured by tooling that wraps it.
    os.environ["MODELSCOPE_OFFLINE"] = "1"


def check_model_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Return the absolute model directory or raise TranscriptionError naming the path."""
    if not str(path).strip():
        # Path("") is ".", which would silently mean "the current directory".
        raise TranscriptionError(f"未配置{what}模型目录")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise TranscriptionError(f"{what}模型目录不存在：{p}")
    if not (p / "config.yaml").is_file():
        raise TranscriptionError(f"{what}模型目录缺少 config.yaml：{p}")
    return p.resolve()


def model_class_name(model_dir: Path) -> str:
    """The ``model:`` class named in a funasr config.yaml ('' if unreadable)."""
    import yaml

    try:
        config = yaml.safe_load((model_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    return str(config.get("model", "")) if isinstance(config, dict) else ""


def model_version(model_dir: Path) -> str:
    """Stable identifier of a model directory for result provenance.

    Uses configuration.json's model name/version when present; the hash of
    config.yaml plus the weight file size tells apart re-trained copies.
    """
    digest = hashlib.sha256((model_dir / "config.yaml").read_bytes())
    weights = model_dir / "model.pt"
    if weights.is_file():
        digest.update(str(weights.stat().st_size).encode())
    short = digest.hexdigest()[:8]
    name, version = model_dir.name, ""
    conf_path = model_dir / "configuration.json"
    if conf_path.is_file():
        try:
            conf = json.loads(conf_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            conf = {}
        if isinstance(conf, dict):
            hub = conf.get("model_name_in_hub")
            hub_name = (hub.get("ms") or hub.get("hf")) if isinstance(hub, dict) else None
            name = str(conf.get("model_name") or hub_name or name)
            version = str(conf.get("version") or "")
    return f"{name}@{version or short}"


def normalize_text(text: str) -> str:
    """Drop rich tags and the spaces funasr puts between CJK characters; keep latin spacing."""
    text = _RICH_TAG.sub("", text)
    text = _CJK_GAP.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


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


def _oom_types() -> tuple[type[BaseException], ...]:
    """torch's CUDA OOM exception class, if this torch build has one."""
    import torch

    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    return (oom,) if isinstance(oom, type) else ()


def _is_oom(exc: BaseException) -> bool:
    """CUDA OOM, or the RuntimeError MPS / older CUDA / the CPU allocator raise instead."""
    if isinstance(exc, _oom_types()):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


def _memory_word(exc: BaseException) -> str:
    """Chinese word for the exhausted memory: GPU (显存) for CUDA/MPS, RAM (内存) for CPU."""
    message = str(exc).lower()
    if isinstance(exc, _oom_types()) or "cuda" in message or "mps" in message:
        return "显存"
    return "内存"


def _free_accelerator_memory() -> None:
    """Return cached blocks to the driver so a smaller retry can fit."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


@contextmanager
def _preserve_root_logging() -> Iterator[None]:
    """Undo the logging.basicConfig() that importing funasr and building AutoModel perform."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


class FunasrEngine:
    """AsrEngine backed by local FunASR models (VAD + ASR + optional punctuation)."""

    name = "funasr"

    def __init__(self, config: FunasrConfig) -> None:
        """Check the directories and load every model once; raises TranscriptionError."""
        self.config = config
        # Check all paths before importing funasr, so a typo never becomes a hub download.
        model_dir = check_model_dir(config.model_dir, "识别")
        vad_dir = check_model_dir(config.vad_dir, "VAD ")
        punc_dir = check_model_dir(config.punc_dir, "标点") if config.punc_dir else None
        force_offline()
        self.device = resolve_device(config.device)
        self.model_version = model_version(model_dir)
        self.vad_model = self._load(vad_dir)
        self.asr_model = self._load(model_dir)
        self.punc_model = self._load(punc_dir) if punc_dir else None
        # The loaded class decides; config.yaml's `model:` covers registry aliases.
        self.model_class = type(self.asr_model.model).__name__
        configured = model_class_name(model_dir)
        self.hotword_kwarg: str | None = HOTWORD_KWARG_BY_MODEL.get(self.model_class)
        self.hotword_kwarg = self.hotword_kwarg or HOTWORD_KWARG_BY_MODEL.get(configured)

    def _load(self, model_dir: Path) -> Any:
        """Build one funasr AutoModel from an existing local directory."""
        with _preserve_root_logging():
            # Separate guard: the import's INFO-level handler must not see the load logs.
            from funasr import AutoModel
        try:
            with _preserve_root_logging():
                return AutoModel(
                    model=str(model_dir),
                    disable_update=True,
                    disable_pbar=True,
                    log_level="WARNING",
                    device=self.device,
                    ncpu=self.config.ncpu,
                )
        except Exception as exc:  # funasr raises bare AssertionError/KeyError on bad dirs
            raise TranscriptionError(f"模型加载失败：{model_dir}：{exc!r}") from exc

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        """Transcribe every channel of the recording; segments sorted by (start, role)."""
        timings = {"decode": 0.0, "vad": 0.0, "asr": 0.0, "punc": 0.0}
        t0 = time.perf_counter()
        audio = decode_channels(request.audio_path, sample_rate=TARGET_SAMPLE_RATE)
        timings["decode"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        pieces: list[_Segment] = []
        for index, samples in enumerate(audio.channels):
            roles = request.channel_roles
            role = roles[index] if index < len(roles) else ROLE_UNKNOWN
            pieces.extend(self._vad_segments(samples, role))
        timings["vad"] = time.perf_counter() - t0

        hotword_kwargs, ignored = self._hotword_kwargs(request.hotwords)
        t0 = time.perf_counter()
        raw_texts = self._recognise([p.samples for p in pieces], hotword_kwargs)
        timings["asr"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        segments: list[SegmentResult] = []
        for piece, raw in zip(pieces, raw_texts, strict=True):
            raw = normalize_text(raw)
            if not raw:
                continue
            text = self._punctuate(raw) if self.punc_model is not None else raw
            segments.append(SegmentResult(piece.role, piece.start_ms, piece.end_ms, raw, text))
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

    def _vad_segments(self, samples: np.ndarray, role: str) -> list[_Segment]:
        """Speech spans of one channel, split to max_segment_ms, with their samples."""
        if samples.size == 0:
            return []
        with self._oom_as_error("VAD"):
            result = self.vad_model.generate(input=samples)
        spans = result[0].get("value", []) if result else []
        total_ms = samples.size * 1000 // TARGET_SAMPLE_RATE
        out: list[_Segment] = []
        for start, end in spans:
            # A still-open segment is reported with end -1; it runs to the end.
            start_ms = max(int(start), 0)
            end_ms = total_ms if end < 0 else min(int(end), total_ms)
            for a, b in split_span(start_ms, end_ms, self.config.max_segment_ms):
                if b - a < MIN_ASR_SEGMENT_MS:
                    continue
                cut = samples[a * TARGET_SAMPLE_RATE // 1000 : b * TARGET_SAMPLE_RATE // 1000]
                out.append(_Segment(role, a, b, cut))
        return out

    def _hotword_kwargs(self, hotwords: Sequence[str]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """generate() keywords for the hotwords this model can use, and the rejected ones."""
        words = [w.strip() for w in hotwords if w.strip()]
        if not words:
            return {}, ()
        if self.hotword_kwarg is None:
            return {}, tuple(words)
        usable = [w for w in words if not _UNSAFE_HOTWORD.search(w)]
        ignored = tuple(w for w in words if _UNSAFE_HOTWORD.search(w))
        if not usable:
            return {}, ignored
        if self.hotword_kwarg == "hotwords":
            return {"hotwords": usable}, ignored
        return {"hotword": " ".join(usable)}, ignored

    def _recognise(self, arrays: list[np.ndarray], extra: dict[str, Any]) -> list[str]:
        """Raw text per array, batched by audio duration; halves batches on CUDA OOM."""
        texts = [""] * len(arrays)
        durations = [a.size * 1000 // TARGET_SAMPLE_RATE for a in arrays]
        budget_ms = max(int(self.config.batch_size_s * 1000), 1)
        pending = plan_batches(durations, budget_ms)
        while pending:
            batch = pending.pop(0)
            try:
                outputs = self._generate_batch([arrays[i] for i in batch], extra)
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                _free_accelerator_memory()
                if len(batch) == 1:
                    seconds = durations[batch[0]] / 1000
                    raise TranscriptionError(
                        f"{_memory_word(exc)}不足：单个 {seconds:.0f} 秒的语音片段也无法识别，"
                        "请调小 max_segment_ms 或改用 CPU/更大显存的设备"
                    ) from exc
                budget_ms = max(budget_ms // 2, 1)
                logger.warning(
                    "ASR out of memory; retrying with batch_size_s=%.1f", budget_ms / 1000
                )
                rest = [i for b in [batch, *pending] for i in b]
                replanned = plan_batches([durations[i] for i in rest], budget_ms)
                pending = [[rest[j] for j in b] for b in replanned]
                continue
            for i, text in zip(batch, outputs, strict=True):
                texts[i] = text
        return texts

    def _generate_batch(self, arrays: list[np.ndarray], extra: dict[str, Any]) -> list[str]:
        """One funasr generate() call; falls back to one-by-one if the batch misbehaves."""
        try:
            results = self.asr_model.generate(input=arrays, batch_size=len(arrays), **extra)
        except IndexError:
            if len(arrays) == 1:
                raise
            # funasr's CIF indexes past the end when a batch member fires no token.
            logger.warning("funasr batch of %d failed; decoding one by one", len(arrays))
            return [self._generate_batch([a], extra)[0] for a in arrays]
        texts = [str(r.get("text", "")) for r in results]
        if len(texts) == len(arrays):
            return texts
        if not any(texts):
            # Paraformer returns a single placeholder when no item produced a token.
            return [""] * len(arrays)
        if len(arrays) == 1:
            raise TranscriptionError(f"识别结果数量异常：{len(texts)} 条结果对应 1 个片段")
        return [self._generate_batch([a], extra)[0] for a in arrays]

    def _punctuate(self, text: str) -> str:
        """Punctuated text from the punctuation model; the raw text if it returns nothing."""
        assert self.punc_model is not None
        with self._oom_as_error("标点"):
            result = self.punc_model.generate(input=text)
        punctuated = normalize_text(str(result[0].get("text", ""))) if result else ""
        return punctuated or text

    @contextmanager
    def _oom_as_error(self, phase: str) -> Iterator[None]:
        """Turn an accelerator OOM in a non-batched phase into a user-facing error."""
        try:
            yield
        except Exception as exc:
            if not _is_oom(exc):
                raise
            _free_accelerator_memory()
            raise TranscriptionError(f"{_memory_word(exc)}不足：{phase}阶段内存耗尽") from exc

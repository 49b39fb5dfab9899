"""Loading local FunASR models safely, and the generate() options each model family reads.

Nothing here may reach a model hub: directories are checked before funasr sees
them, because funasr treats any string that is not an existing path as a hub
model id and downloads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_i18n import msg
from transcription.asr.base import TranscriptionError

SENSEVOICE = "SenseVoiceSmall"
FUN_ASR_NANO = "FunASRNano"
# Model classes that read hotwords, and the generate() keyword each one reads.
HOTWORD_KWARG_BY_MODEL = {
    "SeacoParaformer": "hotword",  # space-separated string
    "ContextualParaformer": "hotword",  # space-separated string
    FUN_ASR_NANO: "hotwords",  # list of strings, put into the LLM prompt
}
# Plain Paraformer returns per-token "timestamp" only on request (BiCif/SeACo always do).
TIMESTAMP_ON_REQUEST = frozenset({"Paraformer"})
# These write punctuation themselves; a separate punctuation model would double it.
NATIVE_PUNCTUATION_MODELS = frozenset({SENSEVOICE, FUN_ASR_NANO})
# Classes whose generate() options differ from the defaults (see model_kwargs).
MODEL_FAMILIES = frozenset({SENSEVOICE, FUN_ASR_NANO, *TIMESTAMP_ON_REQUEST})
# Language hints SenseVoiceSmall understands (anything else would silently mean "auto").
SENSEVOICE_LANGUAGES = frozenset({"auto", "zh", "en", "yue", "ja", "ko"})
# Fun-ASR-Nano reads the language as a word in its prompt ("语音转写成中文").
NANO_LANGUAGE_WORDS = {"zh": "中文", "en": "英文", "ja": "日文", "ko": "韩文"}
# SeACo treats a hotword string starting with "http" as a URL to fetch, or ending
# with ".txt" as a file to read; such "hotwords" are refused instead.
_UNSAFE_HOTWORD = re.compile(r"^https?:|://|\.txt$", re.IGNORECASE)


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
    """Return the absolute model directory or raise TranscriptionError naming the path.

    ``what`` names the model in the message, itself a message (``msg("标点")``) so that it
    translates with it.
    """
    if not str(path).strip():
        # Path("") is ".", which would silently mean "the current directory".
        raise TranscriptionError(msg("未配置{what}模型目录", what=what))
    p = Path(path).expanduser()
    if not p.is_dir():
        raise TranscriptionError(msg("{what}模型目录不存在：{path}", what=what, path=p))
    if not (p / "config.yaml").is_file():
        raise TranscriptionError(msg("{what}模型目录缺少 config.yaml：{path}", what=what, path=p))
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


@contextmanager
def preserve_root_logging() -> Iterator[None]:
    """Undo the logging.basicConfig() that importing funasr and building AutoModel perform."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


def load_auto_model(model_dir: Path, *, device: str, ncpu: int) -> Any:
    """Build one funasr AutoModel from an existing local directory (checked by the caller)."""
    with preserve_root_logging():
        # Separate guard: the import's INFO-level handler must not see the load logs.
        from funasr import AutoModel
    try:
        with preserve_root_logging():
            return AutoModel(
                model=str(model_dir),
                disable_update=True,
                disable_pbar=True,
                log_level="WARNING",
                device=device,
                ncpu=ncpu,
            )
    except Exception as exc:  # funasr raises bare AssertionError/KeyError on bad dirs
        raise TranscriptionError(
            msg("模型加载失败：{path}：{error}", path=model_dir, error=repr(exc))
        ) from exc


def _oom_types() -> tuple[type[BaseException], ...]:
    """torch's CUDA OOM exception class, if this torch build has one."""
    import torch

    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    return (oom,) if isinstance(oom, type) else ()


def is_oom(exc: BaseException) -> bool:
    """CUDA OOM, or the RuntimeError MPS / older CUDA / the CPU allocator raise instead."""
    if isinstance(exc, _oom_types()):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


def memory_word(exc: BaseException) -> str:
    """Chinese word for the exhausted memory: GPU (显存) for CUDA/MPS, RAM (内存) for CPU.

    A message of its own, so the sentence it goes into translates with it.
    """
    message = str(exc).lower()
    if isinstance(exc, _oom_types()) or "cuda" in message or "mps" in message:
        return msg("显存")
    return msg("内存")


def free_accelerator_memory() -> None:
    """Return cached blocks to the driver so a smaller retry can fit."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


@contextmanager
def oom_as_error(phase: str) -> Iterator[None]:
    """Turn an accelerator OOM in a non-batched phase into a user-facing error.

    ``phase`` names the model, a message itself where it is a word (``msg("标点")``).
    """
    try:
        yield
    except Exception as exc:
        if not is_oom(exc):
            raise
        free_accelerator_memory()
        raise TranscriptionError(
            msg("{memory}不足：{phase}阶段内存耗尽", memory=memory_word(exc), phase=phase)
        ) from exc


@dataclass(frozen=True)
class ModelTraits:
    """How the engine must drive one ASR model class."""

    # The class whose generate() options apply (see model_kwargs).
    family: str
    # generate() keyword for hotwords, None if the model cannot use them.
    hotword_kwarg: str | None
    # The model punctuates itself; a separate punctuation model would double it.
    native_punctuation: bool


def model_traits(loaded_class: str, configured_class: str = "") -> ModelTraits:
    """Traits of the loaded model class; config.yaml's ``model:`` covers registry aliases."""
    names = (loaded_class, configured_class)
    family = next((c for c in names if c in MODEL_FAMILIES), loaded_class)
    hotword = next((HOTWORD_KWARG_BY_MODEL[c] for c in names if c in HOTWORD_KWARG_BY_MODEL), None)
    return ModelTraits(family, hotword, family in NATIVE_PUNCTUATION_MODELS)


def _primary_language(language: str) -> str:
    """ "zh-CN" / "zh_cn" / " ZH " → "zh"; "" stays ""."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


def hotword_kwargs(
    kwarg: str | None, hotwords: Sequence[str]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """generate() keywords for the hotwords a model reading ``kwarg`` can use, and the rest."""
    words = [w.strip() for w in hotwords if w.strip()]
    if not words:
        return {}, ()
    if kwarg is None:
        return {}, tuple(words)
    usable = [w for w in words if not _UNSAFE_HOTWORD.search(w)]
    ignored = tuple(w for w in words if _UNSAFE_HOTWORD.search(w))
    if not usable:
        return {}, ignored
    if kwarg == "hotwords":
        return {"hotwords": usable}, ignored
    return {"hotword": " ".join(usable)}, ignored


def model_kwargs(model_class: str, language: str) -> dict[str, Any]:
    """generate() keywords, other than hotwords, that ``model_class`` reads for ``language``."""
    if model_class == SENSEVOICE:
        code = _primary_language(language) or "auto"
        # The model's own ITN writes digits and punctuation it was trained to produce.
        return {
            "language": code if code in SENSEVOICE_LANGUAGES else "auto",
            "use_itn": True,
        }
    if model_class == FUN_ASR_NANO:
        extra: dict[str, Any] = {"itn": True}
        word = NANO_LANGUAGE_WORDS.get(_primary_language(language))
        if word is not None:
            # Without a language word the prompt asks for plain transcription (auto-detect).
            extra["language"] = word
        return extra
    if model_class in TIMESTAMP_ON_REQUEST:
        return {"output_timestamp": True}
    return {}

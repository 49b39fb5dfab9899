"""Which engine transcribes, chosen by settings, built once per process."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from qa_i18n import msg
from transcription.asr.base import AsrEngine, TranscriptionError

logger = logging.getLogger(__name__)

_engines: dict[str, AsrEngine] = {}
_lock = threading.Lock()


def selected_engine_name() -> str:
    """`ASR_ENGINE`, where "auto" means FunASR when ASR_MODEL is set, sidecars otherwise."""
    if settings.ASR_ENGINE == "auto":
        return "funasr" if settings.ASR_MODEL else "sidecar"
    return str(settings.ASR_ENGINE)


def get_engine(name: str | None = None) -> AsrEngine:
    """The process-wide engine instance; models load on first use and stay loaded."""
    name = name or selected_engine_name()
    with _lock:
        engine = _engines.get(name)
        if engine is None:
            engine = _build(name)
            _engines[name] = engine
        return engine


def loaded_engine_facts() -> dict[str, str]:
    """What this process has loaded, for its heartbeat: engine, device, model version."""
    with _lock:
        engine = _engines.get(selected_engine_name())
    if engine is None:
        return {"engine": "", "device": "", "model_version": ""}
    return {
        "engine": engine.name,
        "device": str(getattr(engine, "device", ""))[:50],
        "model_version": str(getattr(engine, "model_version", ""))[:200],
    }


def preload_engine() -> None:
    """Load the selected engine now (worker start), so the first task does not pay for it."""
    try:
        get_engine()
    except TranscriptionError:
        # The worker stays up; each task then fails with this reason, visible on the recording.
        logger.exception("ASR engine could not be loaded")


def _build(name: str) -> AsrEngine:
    if name == "sidecar":
        from transcription.asr.sidecar import SidecarEngine

        return SidecarEngine()
    if name == "funasr":
        from transcription.asr.funasr_engine import FunasrConfig, FunasrEngine

        return FunasrEngine(
            FunasrConfig(
                model_dir=settings.ASR_MODEL,
                vad_dir=settings.ASR_VAD_MODEL,
                punc_dir=settings.ASR_PUNC_MODEL or None,
                spk_dir=settings.ASR_SPK_MODEL or None,
                mono_fallback=settings.ASR_MONO_AGENT_FALLBACK,
                device=settings.ASR_DEVICE,
                batch_size_s=settings.ASR_BATCH_SIZE_S,
            )
        )
    raise TranscriptionError(msg("未知的转写引擎：{name}", name=name))

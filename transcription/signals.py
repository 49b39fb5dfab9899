"""Worker process setup: ASR engines are loaded once per worker process, never per task."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init

logger = logging.getLogger(__name__)


@worker_process_init.connect
def load_asr_engine(**kwargs: Any) -> None:
    from transcription.asr.registry import preload_engine

    preload_engine()

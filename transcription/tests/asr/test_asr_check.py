"""`manage.py asr_check` through FunASR's real code path, with the tiny model and real VAD."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from transcription.asr import registry
from transcription.tests.asr.conftest import vad_model_dir


@pytest.fixture
def configured(settings: Any, tiny_dir: Path, offline: list[str]) -> Any:
    settings.ASR_MODEL = str(tiny_dir)
    settings.ASR_VAD_MODEL = str(vad_model_dir())
    registry._engines.pop("funasr", None)
    yield settings
    registry._engines.pop("funasr", None)


def test_it_loads_the_models_and_reports_device_load_time_and_rtf(configured: Any,
                                                                  offline: list[str]) -> None:
    out = StringIO()
    call_command("asr_check", stdout=out)
    text = out.getvalue()
    assert "设备：cpu" in text
    assert "加载耗时" in text and "实时率 RTF" in text
    assert "语音识别可用" in text
    assert offline == []


def test_a_missing_model_directory_is_named(configured: Any, tmp_path: Path) -> None:
    configured.ASR_PUNC_MODEL = str(tmp_path / "no-punc-model")
    with pytest.raises(CommandError, match=r"ASR_PUNC_MODEL.*no-punc-model"):
        call_command("asr_check", stdout=StringIO())


def test_without_an_asr_model_it_says_so(settings: Any) -> None:
    settings.ASR_MODEL = ""
    with pytest.raises(CommandError, match="未设置 ASR_MODEL"):
        call_command("asr_check", stdout=StringIO())

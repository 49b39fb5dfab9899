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


def test_a_missing_model_path_is_one_line_from_the_command_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = {**os.environ, "ASR_MODEL": str(tmp_path / "nope"), "ASR_VAD_MODEL": str(tmp_path),
           "QA_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "manage.py", "asr_check"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "ASR_MODEL" in lines[0] and str(tmp_path / "nope") in lines[0]

"""The README's demo, minus serving the UI: a fresh data directory end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_the_demo_ingests_transcribes_and_analyzes_every_demo_call(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL") and not k.startswith("ASR_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**env, "QA_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    calls = len(list((REPO / "fixtures" / "demo_calls").glob("*.mp3")))
    assert calls >= 8
    assert f"下载 {calls}，跳过 0，失败 0" in out
    assert f"录音状态：已分析 {calls}" in out
    assert "zhuguan1" in out and "质检主管" in out
    # A second run finds nothing new and processes nothing twice.
    again = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**env, "QA_DATA_DIR": str(tmp_path)},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"新文件 0，下载 0，跳过 {calls}" in again.stdout

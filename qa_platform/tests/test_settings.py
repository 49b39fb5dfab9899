"""Settings modes and system checks, each in a fresh process with its own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from conftest import REPO

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k7#Qm2vR9xL!pZ4wT8nB6yH3jF5cD1sA0gE-uI_oP+eW=rK-tests-only-9f3b",
    "ALLOWED_HOSTS": "qa.example.internal",
    "DATABASE_URL": "postgres://qa@127.0.0.1:5432/qa",
}
WITH_BROKER = {**PRODUCTION, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in WITH_BROKER and not k.startswith(("ASR_", "QA_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**clean, "QA_DATA_DIR": str(tmp_path), **env},
    )


@pytest.mark.parametrize("env", [PRODUCTION, WITH_BROKER], ids=["postgres", "postgres+redis"])
def test_check_deploy_is_clean_with_production_variables(tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    result = manage(tmp_path, "check", "--deploy", **env)
    assert result.returncode == 0, result.stderr
    assert "no issues (0 silenced)" in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_a_missing_secret_key_is_refused_in_production(tmp_path: Path) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert "qa.E001" in result.stderr


def test_sqlite_and_in_process_tasks_are_refused_in_production(tmp_path: Path) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    result = manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert "qa.E003" in result.stderr and "qa.E004" in result.stderr


def test_an_embedded_box_may_run_sqlite_without_workers_when_it_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    result = manage(tmp_path, "check", QA_EMBEDDED="1", **env)
    assert result.returncode == 0, result.stderr


def test_a_missing_asr_model_directory_is_named(tmp_path: Path) -> None:
    result = manage(tmp_path, "check", ASR_MODEL=str(tmp_path / "no-such-model"),
                    ASR_VAD_MODEL=str(tmp_path))
    assert result.returncode != 0
    assert "qa.E002" in result.stderr
    assert "no-such-model" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"DATABASE_URL": "mysql://root@127.0.0.1/qa"}, "must name a PostgreSQL database"),
        ({"ASR_ENGINE": "whisper"}, "ASR_ENGINE must be one of"),
        ({"QA_MIN_FREE_DISK_MB": "lots"}, "QA_MIN_FREE_DISK_MB must be an integer"),
    ],
)
def test_a_bad_value_fails_loudly_at_start(tmp_path: Path, env: dict[str, str],
                                           message: str) -> None:
    result = manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_without_configuration_tasks_run_in_process(settings: object) -> None:
    if os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("this run configures a broker")
    from qa_platform.celery import app

    assert app.conf.task_always_eager is True
    assert app.conf.task_serializer == "json"
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_routes["transcription.tasks.recording_transcribe"] == {"queue": "asr"}


def test_the_embedded_database_uses_wal(db: None) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("this run uses PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
    # The in-memory test database cannot use WAL; the file database the product uses can.
    assert mode in ("wal", "memory")


def test_the_embedded_database_file_is_in_wal_mode(tmp_path: Path) -> None:
    result = manage(tmp_path, "shell", "-c",
                    "from django.db import connection; c = connection.cursor(); "
                    "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "wal"
    assert (tmp_path / "qa.sqlite3").exists()

"""The whole slice with real parts: SFTP server, Redis broker, a Celery worker process, PostgreSQL.

The test process only queues the pull; a separate `celery worker` process does
the pulling, transcription and analysis, and the review page shows the result.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from conftest import REPO
from transcription.models import Recording, RecordingSource

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
REQUIRED = os.environ.get("QA_REQUIRE_SERVICES") == "1"
POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

if not (REDIS_URL and POSTGRES):
    reason = "needs DATABASE_URL (PostgreSQL) and TEST_REDIS_URL (Redis) for a real worker"
    if REQUIRED:
        raise RuntimeError(f"QA_REQUIRE_SERVICES=1 but this run {reason}")
    pytest.skip(reason, allow_module_level=True)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Generous bounds for waiting on another process; they are not performance targets.
WAIT_S = 180


@pytest.fixture
def broker() -> Iterator[str]:
    """An empty Redis database; this process stops running tasks in-process meanwhile."""
    import redis

    from qa_platform.celery import app

    redis.Redis.from_url(REDIS_URL).flushdb()
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield REDIS_URL
    app.conf.task_always_eager = saved


@pytest.fixture
def worker(broker: str, data_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "QA_DATA_DIR": str(data_dir),
        "QA_TEST_SFTP_PASSWORD": "pull-test-password",
        "QA_HEARTBEAT_S": "1",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "qa_platform", "worker",
             "--queues", "ingest,asr,analytics,reports", "--concurrency", "1",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        print(log.read_text(errors="replace")[-4000:])


def test_a_worker_process_pulls_transcribes_and_analyzes_and_the_call_reaches_review(
    worker: subprocess.Popen[bytes],
    source: RecordingSource,
    copy_call: Callable[..., Path],
    org: dict[str, Any],
) -> None:
    from django.core.management import call_command

    from qa_platform.models import Agent
    from transcription.tasks import source_pull

    call_command("load_rulepack", "standard", verbosity=0)
    Agent.objects.create(code="A1023", name="王敏", team=org["team1"])
    copy_call("call_01_annual_fee_refund")  # clean: a refund request, score 100
    copy_call("call_08_credit_limit_unverified")  # account details before the ID check

    from qa_platform.celery import app

    with app.connection_for_write(REDIS_URL) as conn:
        source_pull.apply_async((source.id,), connection=conn)  # type: ignore[call-arg]

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker process died"
        done = Recording.objects.filter(status=Recording.Status.ANALYZED).count()
        if done == 2:
            break
        time.sleep(0.5)
    statuses = list(Recording.objects.values_list("original_name", "status", "error"))
    assert len(statuses) == 2 and all(s[1] == Recording.Status.ANALYZED for s in statuses), statuses

    refund_call = Recording.objects.get(original_name="call_01_annual_fee_refund.mp3")
    assert refund_call.hits.filter(rule__key="refund_request").exists()

    client = Client()
    client.force_login(org["sup1"])
    page = client.get("/calls/review/").content.decode()
    flagged = Recording.objects.get(original_name="call_08_credit_limit_unverified.mp3")
    assert flagged.call_id in page and "未先核实身份" in page
    assert refund_call.call_id not in page, "a clean call is not queued for review"

    # The worker's heartbeat shows in /readyz, with the queues it serves.
    workers = Client().get("/readyz").json()["workers"]
    assert workers, "no worker heartbeat recorded"
    assert "asr" in workers[0]["queues"] and "ingest" in workers[0]["queues"]

"""Queue depths for the pipeline page, read from a real Redis broker."""

from __future__ import annotations

import os
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from qa_platform.queues import queue_depths

REDIS = os.environ.get("TEST_REDIS_URL")


def test_in_process_mode_has_no_queues(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert queue_depths() is None


@pytest.mark.skipif(not REDIS, reason="needs TEST_REDIS_URL (Redis); runs in the PostgreSQL pass")
def test_waiting_tasks_are_counted_per_queue() -> None:
    assert REDIS is not None
    with Connection(REDIS) as conn:
        channel: Any = conn.default_channel  # kombu's Redis channel
        client = channel.client
        client.delete("analytics", "asr")  # kombu keeps each queue as a Redis list
        exchange = Exchange("analytics", type="direct")
        queue = Queue("analytics", exchange, routing_key="analytics")
        producer = conn.Producer()
        for n in range(3):
            producer.publish({"n": n}, exchange=exchange, routing_key="analytics",
                             declare=[queue], serializer="json")
    try:
        depths = queue_depths(broker_url=REDIS)
    finally:
        with Connection(REDIS) as conn:
            cleanup: Any = conn.default_channel
            cleanup.client.delete("analytics")
    assert depths is not None
    assert depths["analytics"] == 3 and depths["asr"] == 0


def test_an_unreachable_broker_raises_quickly() -> None:
    with pytest.raises(Exception):  # noqa: B017 - kombu raises OperationalError here
        queue_depths(broker_url="redis://127.0.0.1:1/0", timeout_s=1)


@pytest.mark.django_db
def test_the_pipeline_page_says_tasks_run_in_process(client: Any, org: dict[str, Any]) -> None:
    client.force_login(org["admin"])
    page = client.get("/pipeline/").content.decode()
    assert 'id="queue-depths"' in page and "Web 进程内" in page

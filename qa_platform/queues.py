"""How many tasks wait in each Celery queue, for the pipeline page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from kombu import Connection
from kombu.exceptions import ChannelError

QUEUES = ("ingest", "asr", "analytics", "reports")


def queue_depths(broker_url: str | None = None, timeout_s: int = 2) -> dict[str, int] | None:
    """Queue name → waiting tasks; None when tasks run in-process (no broker to ask).

    Raises OSError-like errors from kombu when the broker cannot be reached; the caller shows
    that as unknown rather than failing the page.
    """
    url = broker_url or settings.CELERY_BROKER_URL
    if broker_url is None and settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=timeout_s, transport_options={
            "socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout_s)
        channel: Any = conn.default_channel  # a kombu transport channel: queue_declare
        for name in QUEUES:
            try:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except ChannelError:
                depths[name] = 0  # never declared (or an empty Redis list): nothing waiting
    return depths

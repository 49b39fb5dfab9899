"""Worker heartbeats: every worker process records that it is alive, for /readyz."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from typing import Any

from celery.signals import celeryd_after_setup, worker_process_init
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

# Filled in the worker's main process before it forks its children, which inherit it.
_node: dict[str, str] = {"name": socket.gethostname(), "queues": ""}


@celeryd_after_setup.connect
def remember_node(sender: str, instance: Any, **kwargs: Any) -> None:
    _node["name"] = str(sender)
    _node["queues"] = ",".join(sorted(instance.app.amqp.queues.consume_from))


@worker_process_init.connect
def start_heartbeat(**kwargs: Any) -> None:
    threading.Thread(target=_beat_forever, name="qa-heartbeat", daemon=True).start()


def heartbeat_record() -> None:
    """Write this process's heartbeat now."""
    from qa_platform.models import WorkerHeartbeat
    from transcription.asr.registry import loaded_engine_facts

    facts = loaded_engine_facts()
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        node=_node["name"][:200], pid=os.getpid(),
        defaults={"queues": _node["queues"][:200], "last_seen": now, **facts},
        create_defaults={"queues": _node["queues"][:200], "started_at": now, "last_seen": now,
                         **facts},
    )


def workers_alive(*, now: Any = None) -> list[dict[str, object]]:
    """Worker processes heard from within three heartbeat intervals."""
    from qa_platform.models import WorkerHeartbeat

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=3 * settings.QA_HEARTBEAT_S)
    return [
        {"node": beat.node, "pid": beat.pid, "queues": beat.queues, "engine": beat.engine,
         "device": beat.device, "model_version": beat.model_version,
         "seconds_ago": round((now - beat.last_seen).total_seconds())}
        for beat in WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).order_by("node", "pid")
    ]


def _beat_forever() -> None:
    while True:
        try:
            close_old_connections()
            heartbeat_record()
        except Exception:
            # A database hiccup must not kill the worker; the next beat tries again.
            logger.warning("worker heartbeat failed", exc_info=True)
        time.sleep(settings.QA_HEARTBEAT_S)

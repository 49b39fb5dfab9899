"""Liveness and readiness probes: JSON, no login, no secrets."""

from __future__ import annotations

import shutil
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from qa_platform.heartbeats import workers_alive


@never_cache
@require_GET
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, object]:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor, "ms": _ms_since(started)}


def _check_broker() -> dict[str, object]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "in-process"}
    from qa_platform.celery import app

    started = time.monotonic()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return {"ok": False, "mode": "broker", "error": type(exc).__name__}
    return {"ok": True, "mode": "broker", "ms": _ms_since(started)}


def _check_disk() -> dict[str, object]:
    free_mb = shutil.disk_usage(settings.QA_DATA_DIR).free // (1024 * 1024)
    return {
        "ok": free_mb >= settings.QA_MIN_FREE_DISK_MB,
        "free_mb": free_mb,
        "min_free_mb": settings.QA_MIN_FREE_DISK_MB,
    }


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


@never_cache
@require_GET
@login_not_required
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker(), "disk": _check_disk()}
    ready = all(check["ok"] for check in checks.values())
    # Workers are reported, not required: the web process is ready without them.
    workers = workers_alive() if checks["database"]["ok"] else []
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks, "workers": workers},
        status=200 if ready else 503,
    )

"""System checks with stable ids, run at every start (`manage.py check`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=False)
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    if settings.DEBUG or settings.SECRET_KEY != settings.INSECURE_SECRET_KEY:
        return []
    return [
        Error(
            "SECRET_KEY is not set.",
            hint="Set the SECRET_KEY environment variable to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))').",
            id="qa.E001",
        )
    ]


@register()
def check_asr_models(app_configs: Any, **kwargs: Any) -> list[Error]:
    from transcription.asr.registry import selected_engine_name

    if selected_engine_name() != "funasr":
        return []
    errors = []
    for name in ("ASR_MODEL", "ASR_VAD_MODEL", "ASR_PUNC_MODEL", "ASR_SPK_MODEL"):
        value = getattr(settings, name)
        required = name in ("ASR_MODEL", "ASR_VAD_MODEL")
        if not value and not required:
            continue
        if not value or not Path(value).is_dir():
            errors.append(
                Error(
                    f"{name} does not name a local model directory: {value or '(not set)'}",
                    hint=f"Point {name} at a pre-provisioned model directory; "
                    "models are never downloaded at run time.",
                    id="qa.E002",
                )
            )
    return errors


@register()
def check_embedded_mode(app_configs: Any, **kwargs: Any) -> list[Error]:
    """The embedded mode (SQLite, tasks in-process) is for DEBUG or a declared one-box install.

    A PostgreSQL deployment without a broker is allowed: it runs, slowly, and
    /readyz reports its tasks as "in-process".
    """
    if settings.DEBUG or settings.QA_EMBEDDED:
        return []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return []
    errors = [
        Error(
            "SQLite is the database while DEBUG=0.",
            hint="Set DATABASE_URL to PostgreSQL, or QA_EMBEDDED=1 to run "
            "deliberately on one box with SQLite.",
            id="qa.E003",
        )
    ]
    if settings.CELERY_TASK_ALWAYS_EAGER:
        errors.append(
            Error(
                "Tasks run in-process (no CELERY_BROKER_URL) while DEBUG=0.",
                hint="Set CELERY_BROKER_URL to Redis and run workers, or QA_EMBEDDED=1 "
                "to run deliberately on one box without workers.",
                id="qa.E004",
            )
        )
    return errors

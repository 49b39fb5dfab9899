"""Settings, driven by environment variables only.

With no configuration the platform runs on one box: SQLite in QA_DATA_DIR and
Celery tasks executed in-process. DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis) switch to the production layout. The README lists
every variable with its default.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from qa_platform.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
QA_EMBEDDED = env_bool("QA_EMBEDDED", False)

_data_dir = env_str("QA_DATA_DIR")
QA_DATA_DIR = Path(_data_dir).resolve() if _data_dir else BASE_DIR / "var"
QA_DATA_DIR.mkdir(parents=True, exist_ok=True)

# Placeholder used when SECRET_KEY is absent; check qa.E001 refuses it with DEBUG=0.
INSECURE_SECRET_KEY = "django-insecure-qa-platform-placeholder"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        # A development box keeps one random key across restarts, so sessions survive.
        _key_file = QA_DATA_DIR / "secret_key"
        if not _key_file.exists():
            _key_file.write_text(secrets.token_urlsafe(50))
            _key_file.chmod(0o600)
        SECRET_KEY = _key_file.read_text().strip()
    else:
        SECRET_KEY = INSECURE_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "qa_platform",
    "transcription",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "qa_platform.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "qa_platform.urls"
WSGI_APPLICATION = "qa_platform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "qa_platform.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"DATABASE_URL must name a PostgreSQL database (postgres://…), got {_db['ENGINE']}"
        )
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(QA_DATA_DIR / "qa.sqlite3"),
            "OPTIONS": {
                # WAL lets the web process read while a task writes; IMMEDIATE avoids
                # lock upgrades failing mid-transaction; the timeout waits out writers.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("SQLITE_BUSY_TIMEOUT_S", 20, minimum=1),
            },
            # A file, so threads and WAL behave as in production; per process, so two
            # test runs on one checkout never share it.
            "TEST": {"NAME": str(QA_DATA_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "analytics:review_queue"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# Large uploads spool to disk next to storage, never into memory.
FILE_UPLOAD_TEMP_DIR = str(QA_DATA_DIR / "incoming")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(exist_ok=True)

# --- Language and time --------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files: served by WhiteNoise from local disk, never a CDN ----------
STATIC_URL = "static/"
STATIC_ROOT = QA_DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# The dashboards' Plotly: the plotly package's own plotly.min.js, served as static/vendor/plotly/.
_plotly = importlib.util.find_spec("plotly")
PLOTLY_JS_DIR = Path(_plotly.origin if _plotly and _plotly.origin else "").parent / "package_data"
STATICFILES_DIRS = [BASE_DIR / "qa_platform" / "static", ("vendor/plotly", PLOTLY_JS_DIR)]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security (production defaults are strict; check --deploy is clean) -------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    # nginx terminates TLS in front of the app (deploy/nginx.conf).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Celery -------------------------------------------------------------------
CELERY_TASK_ALWAYS_EAGER = not env_str("CELERY_BROKER_URL")
# In-process mode still builds a producer per task; an in-memory transport keeps it local.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "analytics"
CELERY_TASK_ROUTES = {
    "transcription.tasks.source_pull": {"queue": "ingest"},
    "transcription.tasks.sources_pull_due": {"queue": "ingest"},
    "transcription.tasks.recording_transcribe": {"queue": "asr"},
    "transcription.tasks.recordings_requeue_stuck": {"queue": "ingest"},
    "analytics.tasks.*": {"queue": "analytics"},
    "reports.*": {"queue": "reports"},
}
# Long tasks: a task is acknowledged only when done, so a killed worker's task is
# redelivered; each worker process holds one task at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Must exceed the longest task (a 3-hour recording on a busy GPU), or Redis redelivers it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 6 * 3600, minimum=60)
}
CELERY_BEAT_SCHEDULE = {
    # Each source has its own cron schedule; this only looks for the ones that are due.
    "pull-due-sources": {
        "task": "transcription.tasks.sources_pull_due",
        "schedule": crontab(),
    },
    "requeue-stuck-recordings": {
        "task": "transcription.tasks.recordings_requeue_stuck",
        "schedule": crontab(minute="*/15"),
    },
    # Re-analysis jobs whose worker died carry on from their last committed batch.
    "resume-stale-reanalysis": {
        "task": "analytics.tasks.reanalysis_resume_stale",
        "schedule": crontab(minute="*/10"),
    },
    # Raw audio past RAW_AUDIO_RETENTION_DAYS is deleted (a tombstone stays), nightly.
    "raw-audio-purge": {
        "task": "transcription.tasks.raw_audio_purge",
        "schedule": crontab(hour=2, minute=30),
    },
    # The review queue's calibration sample of unflagged calls, topped up nightly.
    "review-sample": {
        "task": "analytics.tasks.review_sample_recent",
        "schedule": crontab(hour=1, minute=30),
    },
}

# Re-analysis of past calls (after a rule-set version is activated) is split into this many
# shares, run in parallel by the analytics workers.
REANALYSIS_PARTITIONS = env_int("REANALYSIS_PARTITIONS", 2, minimum=1)
# An agent may appeal a scored call for this many days after it was scored.
APPEAL_WINDOW_DAYS = env_int("APPEAL_WINDOW_DAYS", 7, minimum=1)
# The review queue's calibration sample: this share of each agent's unflagged calls per week.
REVIEW_SAMPLE_PERCENT = env_int("REVIEW_SAMPLE_PERCENT", 5, minimum=0)

# --- Transcription ------------------------------------------------------------
# auto: FunASR when ASR_MODEL is set, otherwise transcripts delivered as sidecars.
ASR_ENGINE = env_choice("ASR_ENGINE", "auto", ("auto", "sidecar", "funasr"))
ASR_MODEL = env_str("ASR_MODEL")
ASR_VAD_MODEL = env_str("ASR_VAD_MODEL")
ASR_PUNC_MODEL = env_str("ASR_PUNC_MODEL")
ASR_SPK_MODEL = env_str("ASR_SPK_MODEL")
ASR_DEVICE = env_str("ASR_DEVICE", "auto")
# Mono recordings with ASR_SPK_MODEL: who is the agent when nobody greets or says 工号.
ASR_MONO_AGENT_FALLBACK = env_choice("ASR_MONO_AGENT_FALLBACK", "first",
                                     ("first", "second", "unknown"))
ASR_BATCH_SIZE_S = env_int("ASR_BATCH_SIZE_S", 300, minimum=1)
# A transcription may take ASR_TIME_LIMIT_MIN_S plus this many seconds per second of audio
# (a CPU worker runs well under 1x real time; a GPU far under).
ASR_TIME_LIMIT_FACTOR = env_int("ASR_TIME_LIMIT_FACTOR", 2, minimum=1)
ASR_TIME_LIMIT_MIN_S = env_int("ASR_TIME_LIMIT_MIN_S", 300, minimum=30)
# Mask phone, ID, bank card and CVV digits in transcripts before they are stored
# (transcription/pii.py). Off only for a closed test environment.
PII_REDACTION = env_bool("PII_REDACTION", True)
# A recording stuck in a working status longer than this is queued again.
PIPELINE_STUCK_AFTER_S = env_int("PIPELINE_STUCK_AFTER_S", 3 * 3600, minimum=60)

# --- Retention and operations -------------------------------------------------
RAW_AUDIO_RETENTION_DAYS = env_int("RAW_AUDIO_RETENTION_DAYS", 7, minimum=1)
TRANSCRIPT_RETENTION_DAYS = env_int("TRANSCRIPT_RETENTION_DAYS", 180, minimum=1)
QA_MIN_FREE_DISK_MB = env_int("QA_MIN_FREE_DISK_MB", 1024, minimum=0)
# How often each worker process records its heartbeat (shown in /readyz).
QA_HEARTBEAT_S = env_int("QA_HEARTBEAT_S", 30, minimum=1)
SFTP_CONNECT_TIMEOUT_S = env_int("SFTP_CONNECT_TIMEOUT_S", 20, minimum=1)

# --- Ingest -------------------------------------------------------------------
# A recording longer or larger than this is rejected with the reason (retryable).
INGEST_MAX_DURATION_S = env_int("INGEST_MAX_DURATION_S", 3 * 3600, minimum=1)
INGEST_MAX_BYTES = env_int("INGEST_MAX_BYTES", 2 * 1024**3, minimum=1)
# Uploads through the web UI and the API.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 2 * 1024**3, minimum=1)
# A pull holds a per-source lease this long, renewed as it works; a crashed worker's
# lease simply expires.
INGEST_LOCK_TTL_S = env_int("INGEST_LOCK_TTL_S", 900, minimum=30)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "asyncssh": {"level": "WARNING"},
        "jieba": {"level": "WARNING"},
        # In-process mode would log every task twice over; workers keep the trace.
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
    },
}

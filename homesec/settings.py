"""homesec settings: every knob comes from the environment (see .env.example).

With nothing set, homesec runs on SQLite under ./var with the database as the task
broker and live-message bus. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from homesec.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_path,
    env_str,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
load_env_file(Path(os.environ.get("HOMESEC_ENV_FILE", BASE_DIR / ".env")))

# --- Paths -----------------------------------------------------------------
DATA_DIR = env_path("HOMESEC_DATA_DIR", BASE_DIR / "var", base=BASE_DIR)
CAMERA_ROOT = env_path("HOMESEC_CAMERA_ROOT", DATA_DIR / "cameras", base=BASE_DIR)
MEDIA_ROOT = env_path("HOMESEC_MEDIA_ROOT", DATA_DIR / "media", base=BASE_DIR)
MEDIA_URL = "/media/"
for _folder in (DATA_DIR, CAMERA_ROOT, MEDIA_ROOT):
    _folder.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data dir."""
    given = env_str("HOMESEC_SECRET_KEY")
    if given:
        return given
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("HOMESEC_DEBUG", False)

# --- Network ----------------------------------------------------------------
BIND = env_str("HOMESEC_BIND", "127.0.0.1")
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
ALLOWED_HOSTS = env_list("HOMESEC_ALLOWED_HOSTS", ("127.0.0.1", "localhost", "[::1]"))
CSRF_TRUSTED_ORIGINS = env_list("HOMESEC_CSRF_TRUSTED_ORIGINS")
ACCESS_LOG = env_bool("HOMESEC_ACCESS_LOG", False)
PUBLIC_URL = env_str("HOMESEC_PUBLIC_URL", f"http://{BIND}:{PORT}").rstrip("/")

# --- Applications -----------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "django_q",
    "homesec.core",
    "cameras",
    "detections",
    "events",
    "alerts",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "homesec.core.middleware.LoginRequiredEverywhereMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "homesec.urls"
ASGI_APPLICATION = "homesec.asgi.application"

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
                "homesec.core.context_processors.role",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {"default": database_from_url(DATABASE_URL, sqlite_default=DATA_DIR / "homesec.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USING_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")

# --- Redis, tasks, live messages --------------------------------------------
REDIS_URL = env_str("REDIS_URL")

Q_CLUSTER = {
    "name": "homesec",
    "workers": env_int("HOMESEC_WORKERS", 2, minimum=1, maximum=64),
    # A task never runs longer than `timeout`, and `retry` is larger, so the ORM broker
    # never hands a still-running task to a second worker.
    "timeout": env_int("HOMESEC_TASK_TIMEOUT_S", 120, minimum=5),
    "retry": env_int("HOMESEC_TASK_TIMEOUT_S", 120, minimum=5) + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "poll": 0.2,
    "catch_up": False,
    "label": "Tasks",
    "save_limit": 1000,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

if REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# With Redis the channel layer itself crosses processes; without it, each web process
# tails the live-message table (see homesec/core/live.py).
LIVE_PUSH_VIA_LAYER = bool(REDIS_URL)
LIVE_POLL_S = env_float("HOMESEC_LIVE_POLL_S", 0.25, minimum=0.02, maximum=5)
LIVE_KEEP_HOURS = env_int("HOMESEC_LIVE_KEEP_HOURS", 24, minimum=1)
WS_IDLE_S = env_float("HOMESEC_WS_IDLE_S", 300, minimum=5)
SYSTEM_PUSH_S = env_float("HOMESEC_SYSTEM_PUSH_S", 5, minimum=0.5)

# --- Heartbeats and readiness -----------------------------------------------
HEARTBEAT_INTERVAL_S = env_float("HOMESEC_HEARTBEAT_S", 1.0, minimum=0.1, maximum=2.0)
HEARTBEAT_STALE_S = env_float("HOMESEC_HEARTBEAT_STALE_S", 5.0, minimum=1.0)
MIN_FREE_GB = env_float("HOMESEC_MIN_FREE_GB", 1.0, minimum=0)

# --- Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
LOGIN_MAX_FAILURES = env_int("HOMESEC_LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_S = env_int("HOMESEC_LOGIN_LOCKOUT_S", 900, minimum=1)
ADMIN_USER = env_str("HOMESEC_ADMIN_USER", "admin")
ADMIN_PASSWORD = env_str("HOMESEC_ADMIN_PASSWORD")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
TLS = env_bool("HOMESEC_TLS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = TLS

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "homesec.core.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["homesec.core.auth.IsAdminRoleOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "homesec.core.api.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("HOMESEC_API_RATE", "600/minute")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "homesec API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["homesec.core.auth.IsAdminRoleOrReadOnly"],
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- I18N, static -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("HOMESEC_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Logging: secrets never appear because we never log settings or headers -------
LOG_LEVEL = env_choice("HOMESEC_LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django-q": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}

"""homesec settings: every knob comes from the environment (see .env.example).

With nothing set, homesec runs on SQLite under ./var with the database as the task
broker and live-message bus. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from detections.backends import DETECTORS
from homesec.core.files import make_folders, private_file, private_umask, sqlite_private
from homesec.core.logging import logging_config, process_role
from homesec.core.net import trusted_proxies_parse
from homesec.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_emails,
    env_float,
    env_int,
    env_list,
    env_path,
    env_port_range,
    env_rate,
    env_str,
    env_time_zone,
    env_url,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
load_env_file(Path(os.environ.get("HOMESEC_ENV_FILE", BASE_DIR / ".env")))

# --- Paths -----------------------------------------------------------------
DATA_DIR = env_path("HOMESEC_DATA_DIR", BASE_DIR / "var", base=BASE_DIR)
CAMERA_ROOT = env_path("HOMESEC_CAMERA_ROOT", DATA_DIR / "cameras", base=BASE_DIR)
MEDIA_ROOT = env_path("HOMESEC_MEDIA_ROOT", DATA_DIR / "media", base=BASE_DIR)
MEDIA_URL = "/media/"
# What homesec writes from here on (database, secret key, thumbnails, clips) is its own
# user's alone, and an existing install is made so; the camera root stays the operator's
# (homesec/core/files.py).
_operator_umask = private_umask()
make_folders(data_dir=DATA_DIR, media_root=MEDIA_ROOT, camera_root=CAMERA_ROOT, operator_umask=_operator_umask)


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
    private_file(key_file)  # one written before homesec made it 0600
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("HOMESEC_DEBUG", False)
# The debug page lists every setting: this hides the secrets Django's own filter misses.
DEFAULT_EXCEPTION_REPORTER_FILTER = "homesec.core.debug.SecretsHidingFilter"

# --- Network ----------------------------------------------------------------
BIND = env_str("HOMESEC_BIND", "127.0.0.1")
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
# Set but empty would answer no host at all (every request 400): an error, not the default.
ALLOWED_HOSTS = env_list("HOMESEC_ALLOWED_HOSTS", ("127.0.0.1", "localhost", "[::1]"), allow_empty=False)
CSRF_TRUSTED_ORIGINS = env_list("HOMESEC_CSRF_TRUSTED_ORIGINS")
ACCESS_LOG = env_bool("HOMESEC_ACCESS_LOG", False)


# TLS served by daphne itself: a certificate and its key (PEM files), both or neither.
def _tls_file(name: str) -> str:
    path = str(env_path(name, BASE_DIR, base=BASE_DIR)) if env_str(name) else ""
    if path and not Path(path).is_file():
        raise ImproperlyConfigured(f"{name}={path}: no such file")
    return path


TLS_CERT, TLS_KEY = _tls_file("HOMESEC_TLS_CERT"), _tls_file("HOMESEC_TLS_KEY")
if bool(TLS_CERT) != bool(TLS_KEY):
    raise ImproperlyConfigured(
        "HOMESEC_TLS_CERT and HOMESEC_TLS_KEY go together: set both (daphne then serves HTTPS itself) or neither"
    )
# The proxy in front that we trust (homesec/core/net.py): a count, or its addresses.
TRUSTED_PROXIES = trusted_proxies_parse(env_str("HOMESEC_TRUSTED_PROXIES"))
# HTTPS is how people reach homesec: secure cookies, HSTS, and plain HTTP redirected.
TLS = env_bool("HOMESEC_TLS", bool(TLS_CERT))
if TLS_CERT and not TLS:
    raise ImproperlyConfigured("HOMESEC_TLS=0 with HOMESEC_TLS_CERT: with a certificate daphne serves only HTTPS")
if TLS and not TLS_CERT and not TRUSTED_PROXIES:
    # Nothing would tell homesec a request came over HTTPS, so it would redirect every
    # request to HTTPS: to a port that speaks none, or round and round through the proxy.
    raise ImproperlyConfigured(
        "HOMESEC_TLS=1 needs to know which requests came over HTTPS: set HOMESEC_TLS_CERT and HOMESEC_TLS_KEY "
        "(daphne serves HTTPS itself) or HOMESEC_TRUSTED_PROXIES (the TLS proxy in front says so)"
    )
SECURE_SSL_REDIRECT = TLS
# Probes on this machine (the container's HEALTHCHECK, a monitor) talk plain HTTP to the
# port, around the proxy; anonymous callers get nothing secret from either.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
# Django believes X-Forwarded-Proto from any peer. With a count of proxies every peer is a
# proxy. With proxy addresses, a client that reaches homesec around the proxy could claim
# HTTPS, and that changes only how its own plain connection is treated (not redirected):
# cookies are Secure, HSTS keeps browsers on HTTPS, and the client address and WebSocket
# origins check the peer themselves (homesec/core/net.py).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_HSTS_SECONDS = env_int("HOMESEC_HSTS_SECONDS", 365 * 24 * 3600 if TLS else 0, minimum=0)
# Subdomains of homesec's own host name (*.cams.example.org), not the rest of example.org.
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading puts the whole registrable domain (example.org and every name under it) into
# browsers as HTTPS-only, by a submission to hstspreload.org that takes months to undo:
# the household's decision, never a default. Until it is made, check --deploy's W021
# (which asks for preload) is silenced; W004 and W005, which ask for HSTS, are satisfied.
SECURE_HSTS_PRELOAD = env_bool("HOMESEC_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

PUBLIC_URL = (env_url("HOMESEC_PUBLIC_URL") or f"{'https' if TLS_CERT else 'http'}://{BIND}:{PORT}").rstrip("/")
# Open WebSockets check again this often that their sign-in still holds (sign-out, a
# revoked token). Fractions of a second are for tests.
WS_RECHECK_S = env_float("HOMESEC_WS_RECHECK_S", 60, minimum=0.1)

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
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
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
    # First: every log line of the request, even a redirect to HTTPS, carries its id.
    "homesec.core.middleware.RequestIdMiddleware",
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
if USING_SQLITE:
    sqlite_private(Path(DATABASES["default"]["NAME"]))

# --- Redis, tasks, live messages --------------------------------------------
REDIS_URL = env_str("REDIS_URL")

Q_CLUSTER: dict[str, Any] = {
    "name": "homesec",
    "workers": env_int("HOMESEC_WORKERS", 2, minimum=1, maximum=64),
    # A task never runs longer than `timeout`, and `retry` is larger, so the ORM broker
    # never hands a still-running task to a second worker.
    "timeout": env_int("HOMESEC_TASK_TIMEOUT_S", 120, minimum=5),
    "retry": env_int("HOMESEC_TASK_TIMEOUT_S", 120, minimum=5) + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "poll": 0.2,
    # The sentinel's check of its workers (a task's timeout counted down, a dead worker
    # replaced): every second, not django-q2's 0.5 s. A whole number, so it divides every
    # timeout (they are whole seconds): the countdown must hit 0 exactly to end a task.
    "guard_cycle": 1,
    "catch_up": False,
    "label": "Tasks",
    "save_limit": 1000,
}
# Three queues (lanes), each with its own workers, so no kind of work can starve another:
# the main queue (ingest, detection, grouping), "alerts" (everything between a detection
# and a notification received: the assessment within its budget, the rule check, the
# sends), and "slow" (language-model calls, clip transcodes, prompt replays). django-q2 has
# no priorities, so only a queue of its own keeps heavy work from filling the alert path.
# `manage.py worker --cluster alerts|slow` runs a lane; TASK_LANES below says which task
# goes where.
_SLOW_TIMEOUT_S = env_int("HOMESEC_SLOW_TASK_TIMEOUT_S", 600, minimum=5)
_ALERT_TIMEOUT_S = env_int("HOMESEC_ALERT_TASK_TIMEOUT_S", 60, minimum=5)
Q_CLUSTER["ALT_CLUSTERS"] = {
    "slow": {
        # Two with a language model (a model call beside a transcode), else one: without a
        # model the lane only transcodes, and libx264 already takes every core for one clip.
        "workers": env_int(
            "HOMESEC_SLOW_WORKERS",
            2 if env_str("HOMESEC_LLM_PROVIDERS") or env_str("HOMESEC_LLM_URL") else 1,
            minimum=1,
            maximum=64,
        ),
        "timeout": _SLOW_TIMEOUT_S,
        "retry": _SLOW_TIMEOUT_S + 60,
    },
    "alerts": {
        # Two, so one receiver that hangs until its timeout never holds up the others.
        "workers": env_int("HOMESEC_ALERT_WORKERS", 2, minimum=1, maximum=64),
        "timeout": _ALERT_TIMEOUT_S,
        "retry": _ALERT_TIMEOUT_S + 60,
    },
}
TASK_LANES = {
    "events.tasks.assessment_rules_due": "alerts",
    "alerts.tasks.alerts_evaluate": "alerts",
    "alerts.tasks.notifications_send": "alerts",
    "alerts.tasks.notification_replay": "alerts",
    "events.tasks.assessment_llm_run": "slow",
    "events.tasks.prompt_replay_run": "slow",
    "detections.tasks.clip_transcode": "slow",
    "detections.tasks.clip_transcode_replay": "slow",
    "monitoring.retention.cleanup_task": "slow",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The ORM broker woken by each queued task (homesec/core/broker.py): its own wait when
    # the queue is empty replaces django-q2's poll, so a task is taken at once and an idle
    # lane reads its table every 2 s instead of five times a second.
    Q_CLUSTER["broker_class"] = "homesec.core.broker.WakingORM"
    Q_CLUSTER["poll"] = 0

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

# Stage task names from before tasks were named for their services: an old value in a .env
# file keeps working, with a warning at every start.
RENAMED_TASKS = {
    "detections.tasks.detect_ingests": "detections.tasks.detection_accept",
    "events.tasks.events_add": "events.tasks.event_add_detections",
}


def _stage(name: str, default: str) -> str:
    value = env_str(name, default)
    if value in RENAMED_TASKS:
        warnings.warn(f"{name}={value} is an old name: set {RENAMED_TASKS[value]} (used meanwhile)", stacklevel=2)
        return RENAMED_TASKS[value]
    return value


# --- Ingest -----------------------------------------------------------------------
MAX_UPLOAD_MB = env_int("HOMESEC_MAX_UPLOAD_MB", 200, minimum=1)
# OpenCV refuses above 2^30 pixels; 40 MP is well above any camera and far below that.
MAX_IMAGE_PIXELS = env_int("HOMESEC_MAX_IMAGE_PIXELS", 40_000_000, minimum=10_000)
WATCH_POLLING = env_bool("HOMESEC_WATCH_POLLING", False)
WATCH_STABLE_S = env_float("HOMESEC_WATCH_STABLE_S", 2.0, minimum=0.1)
# How often the watcher looks again at a file still growing (moved in from outside, or in
# polling mode) until its size is stable. A closed file wakes the watcher at once.
WATCH_BATCH_S = env_float("HOMESEC_WATCH_BATCH_S", 0.05, minimum=0.0, maximum=5)
# A full re-scan of the tree (directory entries only) as a safety net for events that
# inotify cannot give, e.g. files in a folder created while the watcher was starting.
WATCH_RESCAN_S = env_float("HOMESEC_WATCH_RESCAN_S", 300.0, minimum=1.0)
INGEST_BATCH = env_int("HOMESEC_INGEST_BATCH", 100, minimum=1, maximum=5000)
# A claimed row counts as abandoned only after the longest a task of its lane may run, so
# a slow task is never processed twice at once, and a task message waiting in its lane's
# queue is sent again only after that long.
INGEST_STALE_S = env_float("HOMESEC_INGEST_STALE_S", Q_CLUSTER["timeout"] + 30, minimum=Q_CLUSTER["timeout"] + 1)
SLOW_STALE_S = _SLOW_TIMEOUT_S + 30.0
ALERT_STALE_S = _ALERT_TIMEOUT_S + 30.0
SWEEP_S = env_float("HOMESEC_SWEEP_S", 5.0, minimum=0.1)
# The stage that takes finished ingests (a dotted task name; tests may point it elsewhere).
INGEST_NEXT_STAGE = _stage("HOMESEC_INGEST_NEXT_STAGE", "detections.tasks.detection_accept")
# Jobs the watcher's clock runs every HOMESEC_SWEEP_S: durable-row sweeps and checks.
CLOCK_JOBS = [
    "cameras.ingest.ingest_sweep",
    "detections.services.detection_sweep",
    "cameras.services.camera_check_offline",
    "homesec.core.live.live_prune",
    "events.grouping.event_close_due",
    "events.grouping.event_sweep",
    "events.assessment.reassess_fallbacks",
    "alerts.engine.alert_sweep",
    "alerts.delivery.notification_sweep",
    "alerts.services.alert_renotify_due",
    "alerts.services.system_alerts_check",
    "alerts.transports.mqtt.presence_tick",
    "monitoring.retention.cleanup_due",
]
# Jobs the watcher runs every HOMESEC_CLOCK_FAST_S: the language model's budget on the
# alert path must run out to the fraction of a second, not to the next sweep.
CLOCK_FAST_S = env_float("HOMESEC_CLOCK_FAST_S", 0.2, minimum=0.02, maximum=5)
FAST_CLOCK_JOBS = ["events.assessment.assessment_deadlines_due"]
# Jobs the watcher runs once when it starts (retried until they succeed), and once when it stops.
START_JOBS = ["alerts.setup.alerts_setup"]
STOP_JOBS = ["alerts.transports.mqtt.presence_stop"]

# --- Retention (monitoring/retention/; docs/OPERATIONS.md) ------------------------------------
# Daily, and by `manage.py cleanup`. Closed events and their detections go after this many
# days, and so do uploads no kept detection needs.
RETAIN_EVENTS_DAYS = env_float("HOMESEC_RETAIN_EVENTS_DAYS", 30.0, minimum=1)
# Notifications (each with its delivery attempts) that were sent, failed or skipped.
RETAIN_DELIVERIES_DAYS = env_float("HOMESEC_RETAIN_DELIVERIES_DAYS", 30.0, minimum=1)
# Rows of rejected and duplicate uploads, once their files are gone from the camera root.
RETAIN_REFUSED_DAYS = env_float("HOMESEC_RETAIN_REFUSED_DAYS", 7.0, minimum=0)
RETAIN_AUDIT_DAYS = env_float("HOMESEC_RETAIN_AUDIT_DAYS", 365.0, minimum=30)
# The media of an unreviewed event at one of the top two levels is never removed to keep
# the budget while the event is younger than this.
KEEP_IMPORTANT_DAYS = env_float("HOMESEC_KEEP_IMPORTANT_DAYS", 14.0, minimum=0)
# The most media (uploads taken, thumbnails, clip copies) homesec keeps, in GB; unset: no
# budget (the free-space floor HOMESEC_MIN_FREE_GB still applies).
MEDIA_BUDGET_GB: float | None = (
    env_float("HOMESEC_MEDIA_BUDGET_GB", 0.0, minimum=0.001) if env_str("HOMESEC_MEDIA_BUDGET_GB") else None
)
# A file in the media folders that no row names is removed only this long after it was
# last written: it may be a thumbnail whose rows are not committed yet, or a transcode.
ORPHAN_GRACE_S = env_float("HOMESEC_ORPHAN_GRACE_S", 3600.0, minimum=1)
if ORPHAN_GRACE_S <= max(SLOW_STALE_S, INGEST_STALE_S):
    raise ImproperlyConfigured(
        f"HOMESEC_ORPHAN_GRACE_S={ORPHAN_GRACE_S:g} must be more than the longest a task may run "
        f"({max(SLOW_STALE_S, INGEST_STALE_S):g} s), or a file still being written could be taken for an orphan"
    )
# Rows deleted per transaction: short transactions never hold a large table for long.
CLEANUP_BATCH = env_int("HOMESEC_CLEANUP_BATCH", 500, minimum=1, maximum=10_000)

# --- Detection -----------------------------------------------------------------------------
DETECTOR = env_choice("HOMESEC_DETECTOR", "opencv", tuple(DETECTORS))
DETECTOR_MODEL = env_str("HOMESEC_DETECTOR_MODEL")
DETECTOR_RUNTIME = env_choice("HOMESEC_DETECTOR_RUNTIME", "auto", ("auto", "opencv", "onnxruntime"))
DETECTOR_INPUT_SIZE = env_int("HOMESEC_DETECTOR_INPUT_SIZE", 640, minimum=32, maximum=4096)
DETECTOR_URL = env_url("HOMESEC_DETECTOR_URL")
# A backend without its model or server would fail every detection; whether the model file
# is there and readable is a system check (homesec/core/checks.py).
if DETECTOR == "onnx" and not DETECTOR_MODEL:
    raise ImproperlyConfigured("HOMESEC_DETECTOR=onnx needs HOMESEC_DETECTOR_MODEL, the path of a YOLO .onnx file")
if DETECTOR == "http" and not DETECTOR_URL:
    raise ImproperlyConfigured(
        "HOMESEC_DETECTOR=http needs HOMESEC_DETECTOR_URL, the detection server, e.g. http://gpu-box.local:5000"
    )
DETECTOR_API = env_choice("HOMESEC_DETECTOR_API", "reference", ("reference", "deepstack"))
DETECTOR_TIMEOUT_S = env_float("HOMESEC_DETECTOR_TIMEOUT_S", 10.0, minimum=0.1)
DETECTOR_COOLDOWN_S = env_float("HOMESEC_DETECTOR_COOLDOWN_S", 30.0, minimum=0.1)
DETECT_MIN_CONFIDENCE = env_float("HOMESEC_DETECT_MIN_CONFIDENCE", 0.5, minimum=0.0, maximum=1.0)
DETECT_MAX_AGE_H = env_float("HOMESEC_DETECT_MAX_AGE_H", 24.0, minimum=0.001)
CLIP_SAMPLE_S = env_float("HOMESEC_CLIP_SAMPLE_S", 2.0, minimum=0.1)
CLIP_MAX_FRAMES = env_int("HOMESEC_CLIP_MAX_FRAMES", 20, minimum=1, maximum=500)
# The stage that takes ingests once their detections are stored.
DETECT_NEXT_STAGE = _stage("HOMESEC_DETECT_NEXT_STAGE", "events.tasks.event_add_detections")

# --- Events -------------------------------------------------------------------------------------
# Fractions of a second are fine: tests run the real processes fast.
EVENT_WINDOW_S = env_float("HOMESEC_EVENT_WINDOW_S", 90.0, minimum=0.01)
EVENT_IDLE_S = env_float("HOMESEC_EVENT_IDLE_S", 30.0, minimum=0.01)
EVENT_MAX_DETECTIONS = env_int("HOMESEC_EVENT_MAX_DETECTIONS", 500, minimum=1)
LATE_AFTER_MIN = env_float("HOMESEC_LATE_AFTER_MIN", 10.0, minimum=0.0)


# --- Assessment by a language model (optional; without one the rules analyzer scores) ---------
def _llm_providers() -> list[tuple[str, str, str]]:
    """HOMESEC_LLM_PROVIDERS = "url|model|key;url|model" (tried in order), else the single
    HOMESEC_LLM_URL / _MODEL / _API_KEY."""
    raw = env_str("HOMESEC_LLM_PROVIDERS")
    entries = [e for e in raw.split(";") if e.strip()] if raw else []
    if not entries and env_str("HOMESEC_LLM_URL"):
        entries = [
            f"{env_str('HOMESEC_LLM_URL')}|{env_str('HOMESEC_LLM_MODEL', 'default')}|{env_str('HOMESEC_LLM_API_KEY')}"
        ]
    providers = []
    for entry in entries:
        parts = [p.strip() for p in entry.split("|")] + ["", ""]
        if not parts[0].startswith(("http://", "https://")) or not parts[1]:
            raise ImproperlyConfigured(f"HOMESEC_LLM_PROVIDERS entry {parts[0]!r} must look like url|model|key")
        providers.append((parts[0], parts[1], parts[2]))
    return providers


LLM_PROVIDERS = _llm_providers()
LLM_TIMEOUT_S = env_float("HOMESEC_LLM_TIMEOUT_S", 60.0, minimum=0.1)
LLM_TEMPERATURE = env_float("HOMESEC_LLM_TEMPERATURE", 0.2, minimum=0.0, maximum=2.0)
LLM_COOLDOWN_S = env_float("HOMESEC_LLM_COOLDOWN_S", 60.0, minimum=0.1)
LLM_MAX_PROMPT_CHARS = env_int("HOMESEC_LLM_MAX_PROMPT_CHARS", 6000, minimum=500)
# Send up to 4 key frames (annotated thumbnails) to a vision model as data-URI images.
LLM_VISION = env_bool("HOMESEC_LLM_VISION", False)

# A person this sure gets the open event assessed at once (the fast path).
FAST_PATH_CONFIDENCE = env_float("HOMESEC_FAST_PATH_CONFIDENCE", 0.90, minimum=0.0, maximum=1.0)
# How long an alert waits for the language model: past this the rules' assessment is stored
# and alerted on (marked fallback), and the model's answer, when it comes, assesses again.
FAST_PATH_LLM_BUDGET_S = env_float("HOMESEC_FAST_PATH_LLM_BUDGET_S", 5.0, minimum=0.0, maximum=300)
# Fallback assessments are sent to the model again once its breaker lets calls through:
# those of the last HOMESEC_REASSESS_MAX_AGE_H hours, at most HOMESEC_REASSESS_PER_MIN a minute.
REASSESS_MAX_AGE_H = env_float("HOMESEC_REASSESS_MAX_AGE_H", 24.0, minimum=0.01)
REASSESS_PER_MIN = env_int("HOMESEC_REASSESS_PER_MIN", 6, minimum=1, maximum=1000)
# The stage that takes every committed assessment (the alert rules).
ASSESS_NEXT_STAGE = _stage("HOMESEC_ASSESS_NEXT_STAGE", "alerts.tasks.alerts_evaluate")

# --- Alerts and notifications --------------------------------------------------------------
# The default rule (until the operator changes it): any event at or above this level
# notifies every channel. A level name from the severity table.
ALERT_MIN_LEVEL = env_str("HOMESEC_ALERT_MIN_LEVEL", "high").lower()
# Assessments of events that ended longer ago than this (e.g. `manage.py reassess` on last
# month) are recorded but never page anyone.
ALERT_MAX_AGE_H = env_float("HOMESEC_ALERT_MAX_AGE_H", 6.0, minimum=0.01)
RENOTIFY_MINUTES = env_float("HOMESEC_RENOTIFY_MINUTES", 10.0, minimum=0.01)
RENOTIFY_MAX = env_int("HOMESEC_RENOTIFY_MAX", 3, minimum=0, maximum=100)
NOTIFY_TIMEOUT_S = env_float("HOMESEC_NOTIFY_TIMEOUT_S", 10.0, minimum=0.1, maximum=120)
NOTIFY_TRIES = env_int("HOMESEC_NOTIFY_TRIES", 3, minimum=1, maximum=20)
# A notification that a worker took and did not finish within this is sent again (the
# worker died mid-send). Longer than one send can take, so a slow send is never doubled.
NOTIFY_STALE_S = env_float("HOMESEC_NOTIFY_STALE_S", max(60.0, NOTIFY_TIMEOUT_S * 3), minimum=1.0)
if NOTIFY_STALE_S <= NOTIFY_TIMEOUT_S:
    raise ImproperlyConfigured(
        f"HOMESEC_NOTIFY_STALE_S={NOTIFY_STALE_S} must be more than HOMESEC_NOTIFY_TIMEOUT_S={NOTIFY_TIMEOUT_S}, "
        "or a slow send would be sent twice"
    )
# A receiver that keeps answering 429 is waited for (as its Retry-After says) this long.
NOTIFY_MAX_WAIT_MIN = env_float("HOMESEC_NOTIFY_MAX_WAIT_MIN", 60.0, minimum=0.1)
# Snapshot links in webhook, ntfy and MQTT messages work without signing in, for this long.
SNAPSHOT_LINK_DAYS = env_float("HOMESEC_SNAPSHOT_LINK_DAYS", 7.0, minimum=0.01)
# The "Acknowledge" link in every alert's notification opens its page for this long (it
# acknowledges only for someone signed in, with a click: the link alone changes nothing).
ACTION_LINK_DAYS = env_float("HOMESEC_ACTION_LINK_DAYS", 7.0, minimum=0.01, maximum=366)
# Channels declared in the environment (they belong to the household as a whole).
NOTIFY_WEBHOOK_URL = env_str("HOMESEC_NOTIFY_WEBHOOK_URL")
NOTIFY_WEBHOOK_SECRET = env_str("HOMESEC_NOTIFY_WEBHOOK_SECRET")
if NOTIFY_WEBHOOK_URL and not NOTIFY_WEBHOOK_SECRET:
    raise ImproperlyConfigured(
        "HOMESEC_NOTIFY_WEBHOOK_URL is set but HOMESEC_NOTIFY_WEBHOOK_SECRET is not: every webhook is signed"
    )
NOTIFY_EMAIL_TO = env_emails("HOMESEC_NOTIFY_EMAIL_TO")
NOTIFY_MQTT_URL = env_str("HOMESEC_NOTIFY_MQTT_URL")
NOTIFY_NTFY_URL = env_str("HOMESEC_NOTIFY_NTFY_URL")
NOTIFY_NTFY_TOKEN = env_str("HOMESEC_NOTIFY_NTFY_TOKEN")
# SMTP for email channels (a channel may name its own server instead).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("HOMESEC_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("HOMESEC_SMTP_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("HOMESEC_SMTP_USER")
EMAIL_HOST_PASSWORD = env_str("HOMESEC_SMTP_PASSWORD")
EMAIL_USE_TLS = env_bool("HOMESEC_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("HOMESEC_SMTP_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("HOMESEC_SMTP_STARTTLS and HOMESEC_SMTP_SSL exclude each other: set one")
EMAIL_TIMEOUT = NOTIFY_TIMEOUT_S
DEFAULT_FROM_EMAIL = env_str("HOMESEC_EMAIL_FROM", "homesec@localhost")

# --- Built-in FTP receiver (off unless a port is given) ----------------------------------
FTP_PORT = env_int("HOMESEC_FTP_PORT", 0, minimum=0, maximum=65535)
FTP_BIND = env_str("HOMESEC_FTP_BIND", BIND)
FTP_PASSIVE_PORTS = env_port_range("HOMESEC_FTP_PASSIVE_PORTS")
FTP_MASQUERADE_ADDRESS = env_str("HOMESEC_FTP_MASQUERADE_ADDRESS")
FTP_MAX_LOGIN_FAILURES = env_int("HOMESEC_FTP_MAX_LOGIN_FAILURES", 5, minimum=1)
FTP_LOCKOUT_S = env_int("HOMESEC_FTP_LOCKOUT_S", 300, minimum=1)
FTP_MAX_CONCURRENT_LOGINS = env_int("HOMESEC_FTP_MAX_CONCURRENT_LOGINS", 2, minimum=1)

# --- Heartbeats and readiness -----------------------------------------------
HEARTBEAT_INTERVAL_S = env_float("HOMESEC_HEARTBEAT_S", 1.0, minimum=0.1, maximum=2.0)
HEARTBEAT_STALE_S = env_float("HOMESEC_HEARTBEAT_STALE_S", 5.0, minimum=1.0)
if HEARTBEAT_STALE_S <= 2 * HEARTBEAT_INTERVAL_S:
    raise ImproperlyConfigured(
        f"HOMESEC_HEARTBEAT_STALE_S={HEARTBEAT_STALE_S} must be more than twice HOMESEC_HEARTBEAT_S="
        f"{HEARTBEAT_INTERVAL_S}, or healthy processes would look dead"
    )
MIN_FREE_GB = env_float("HOMESEC_MIN_FREE_GB", 1.0, minimum=0)

# --- GPU sampling (monitoring/gpu.py, a step of the watcher's clock) ---------------
# Seconds between two readings of every NVIDIA GPU; 0 turns sampling off. Below 1 s NVML's
# own averages do not move and the rows would only fill the table.
GPU_SAMPLE_S = env_float("HOMESEC_GPU_SAMPLE_S", 5.0, minimum=0, maximum=3600)
if 0 < GPU_SAMPLE_S < 1:
    raise ImproperlyConfigured(f"HOMESEC_GPU_SAMPLE_S={GPU_SAMPLE_S}: use 0 (off) or at least 1 second")
# With no GPU, driver or library found, how long before looking again (a driver installed later).
GPU_RETRY_S = env_float("HOMESEC_GPU_RETRY_S", 3600.0, minimum=10)
GPU_SAMPLER = "monitoring.gpu.gpu_sample"

# --- Backups (monitoring/backup.py, docs/OPERATIONS.md) ------------------------------------
# Daily backups into this folder when set, the newest HOMESEC_BACKUP_KEEP kept. Never inside
# the media root (a backup would hold the backups before it) or the camera root (the watcher
# would take the copies for uploads).
BACKUP_DIR = env_path("HOMESEC_BACKUP_DIR", DATA_DIR, base=BASE_DIR) if env_str("HOMESEC_BACKUP_DIR") else None
for _root, _name in ((MEDIA_ROOT, "HOMESEC_MEDIA_ROOT"), (CAMERA_ROOT, "HOMESEC_CAMERA_ROOT")):
    if BACKUP_DIR is not None and BACKUP_DIR.is_relative_to(_root):
        raise ImproperlyConfigured(f"HOMESEC_BACKUP_DIR={BACKUP_DIR} is inside {_name}: choose a folder outside it")
BACKUP_KEEP = env_int("HOMESEC_BACKUP_KEEP", 7, minimum=1)
BACKUP_EVERY_H = env_float("HOMESEC_BACKUP_EVERY_H", 24.0, minimum=0.01)
# A backup's own time limit on the slow lane: the first copy of months of media is long.
BACKUP_TIMEOUT_S = env_int("HOMESEC_BACKUP_TIMEOUT_S", 6 * 3600, minimum=60)
# Where pg_dump and pg_restore are (their major version at least the server's); empty: the PATH.
PG_BIN = env_str("HOMESEC_PG_BIN")
CLOCK_JOBS.append("monitoring.backup.backup_due_check")
TASK_LANES["monitoring.backup.backup_scheduled"] = "slow"

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
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = TLS

API_RATE = env_rate("HOMESEC_API_RATE", "600/minute")
# Tighter limits where a request costs more or guesses a password (homesec/core/throttling.py):
# token sign-in per address and per user name; search and export per user and per address.
API_RATE_AUTH = env_rate("HOMESEC_API_RATE_AUTH", "10/minute")
API_RATE_SEARCH = env_rate("HOMESEC_API_RATE_SEARCH", "60/minute")
API_RATE_EXPORT = env_rate("HOMESEC_API_RATE_EXPORT", "10/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "homesec.core.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["homesec.core.auth.IsAdminRoleOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # ?format= is the export's (csv, ndjson), not a choice of renderer.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "homesec.core.api.problem_exception_handler",
    # Per user; anonymous clients by the same address as the sign-in lock-out. The counts
    # are in the shared cache (CACHES), so the limits hold across every web process.
    "DEFAULT_THROTTLE_CLASSES": ["homesec.core.throttling.ClientUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": API_RATE,
        "auth": API_RATE_AUTH,
        "search": API_RATE_SEARCH,
        "export": API_RATE_EXPORT,
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "homesec API",
    "DESCRIPTION": "Cameras, events, alerts and the system of one homesec. Errors are RFC 7807 problem "
    "details (application/problem+json). See docs/API.md.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["homesec.core.auth.IsAdminRoleOrReadOnly"],
    # Swagger UI (/api/docs/) from our own static files: it works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status` of their own choices: each enum by its model's name.
    "ENUM_NAME_OVERRIDES": {"EventStatusEnum": "events.models.Event.Status"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Every operation declares the problem responses any call may get (401, 403, ...).
        "homesec.core.api.problem_responses_hook",
    ],
}

# A cache every web process shares: the API's rate counts live here. Redis when there is
# one; else a table in the database (made by a migration: homesec/core/migrations/0007_cache_table.py).
# Never a per-process memory cache: each process would count on its own.
CACHE_TABLE = "homesec_cache"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "homesec",
            # A Redis that does not answer must not hold requests up for long.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": CACHE_TABLE,
            # Past this many rows Django deletes a third of them, counts still running among
            # them: well above one household's clients.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Metrics (/metrics, monitoring/metrics.py) -----------------------------------
# Prometheus scrapes /metrics with this token (`Authorization: Bearer <token>`); unset, the
# page answers 404 and says how to turn it on. Long and random: anyone who has it reads
# how busy the house is and when it is empty.
METRICS_TOKEN = env_str("HOMESEC_METRICS_TOKEN")
if METRICS_TOKEN and (len(METRICS_TOKEN) < 16 or not all("!" <= c <= "~" for c in METRICS_TOKEN)):
    raise ImproperlyConfigured(
        "HOMESEC_METRICS_TOKEN must be at least 16 printable ASCII characters without spaces (it is sent "
        "as a Bearer token), e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )
# Scrape-time gauges: dotted paths of functions taking nothing and returning
# [(name, "gauge" | "counter", help, [(labels, value), ...]), ...] (monitoring/collectors.py).
METRIC_COLLECTORS = [
    "monitoring.collectors.health_metric_families",
    "monitoring.collectors.queue_metric_families",
    "monitoring.collectors.event_metric_families",
    "monitoring.gpu.gpu_metric_families",
    "monitoring.backup.backup_metric_families",
]
# django-prometheus: request and database metrics, counted in memory by the process and
# exposed by the web process that answers the scrape (see the README's Metrics). Its database
# wrapper only in the web process: the other processes' counts would be seen by nobody (their
# work is counted by the homesec_* series), so each of their queries would pay for nothing.
INSTALLED_APPS.append("django_prometheus")
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
if process_role() == "web":
    DATABASES["default"]["ENGINE"] = {
        "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
        "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    }.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])

# --- I18N, static -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_time_zone("HOMESEC_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Logging: text (stderr) or one JSON object per line (stdout); secrets taken out of every
# line by the formatter (homesec/core/logging.py) -------
LOG_LEVEL = env_choice("HOMESEC_LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOG_FORMAT = env_choice("HOMESEC_LOG_FORMAT", "text", ("text", "json"))
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)

"""Log lines: text for a terminal or one JSON object per line (HOMESEC_LOG_FORMAT), each with
the process's role and, where known, the request, camera, event and ingest it is about; and
never a secret.

Secrets are taken out at the last moment, in the formatter, so whatever put them in a
message (an exception's text, a library echoing a header, a URL with a password) they never
reach the output: the values of the secret settings, the channel secrets this process has
loaded (`secret_learn`), passwords inside URLs, Authorization headers, session cookies and
API token keys.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

REDACTED = "***"
CONTEXT_FIELDS = ("request_id", "camera", "event", "ingest")

# What the work being logged is about. A context variable: each request (the middleware
# sets request_id) and each task has its own, also under ASGI, where requests share threads.
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "homesec_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every record logged inside carries these fields (request_id, camera, event, ingest)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def _record_context(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields (`extra=`) first, then the context's; Django's request loggers
    log outside the middleware but hand over the request, which carries its id."""
    known = _context.get()
    found = {}
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is None:
            value = known.get(name)
        if value is None and name == "request_id":
            value = getattr(getattr(record, "request", None), "request_id", None)
        if value is not None:
            found[name] = value
    return found


# --- Which process this is ---------------------------------------------------------------------

# manage.py commands whose process has another name (the heartbeat roles, `manage.py run`'s names).
COMMAND_ROLES = {"watch_cameras": "watcher", "ftp_server": "ftp", "run": "supervisor"}


def process_role(argv: list[str] | None = None) -> str:
    """The role of this process, from how it was started: daphne is `web`, `manage.py worker
    --role R` is R (`worker` without one, as its heartbeat), other commands go by their
    name. A worker's forked children keep their parent's command line, so its role too."""
    argv = sys.argv if argv is None else argv
    if not argv:
        return "python"
    if "daphne" in argv[0]:
        return "web"
    if os.path.basename(argv[0]) == "manage.py" and len(argv) > 1:
        command, options = argv[1], argv[2:]
        if command == "worker":
            for n, option in enumerate(options):
                if option == "--role" and n + 1 < len(options):
                    return options[n + 1]
                if option.startswith("--role="):
                    return option.split("=", 1)[1]
            return "worker"
        return COMMAND_ROLES.get(command, command)
    return os.path.basename(argv[0]).removesuffix(".py") or "python"


# --- Secrets -----------------------------------------------------------------------------------

# Settings whose whole value is a secret, and those that carry one inside (a URL's
# password, an LLM provider's key).
SECRET_SETTINGS = (
    "SECRET_KEY",
    "EMAIL_HOST_PASSWORD",
    "NOTIFY_WEBHOOK_SECRET",
    "NOTIFY_NTFY_TOKEN",
    "METRICS_TOKEN",
)
URL_SETTINGS = ("DATABASE_URL", "REDIS_URL", "NOTIFY_MQTT_URL", "NOTIFY_WEBHOOK_URL", "NOTIFY_NTFY_URL")
# A value this short is no credential worth the name, and hiding it would mangle words.
MIN_SECRET_LEN = 4

_PATTERNS = [
    # scheme://user:password@host, whatever the setting or library it came from
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@"), rf"\1{REDACTED}@"),
    # An Authorization header as a dict, repr or raw header: everything after the name.
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(sessionid=)[^;\s'\"]+"), rf"\1{REDACTED}"),
    # API token keys (homesec.core.services.TOKEN_PREFIX + 43 characters)
    (re.compile(r"\bhs_[\w-]{16,}"), f"hs_{REDACTED}"),
]

_learned: set[str] = set()


def secret_learn(*values: str) -> None:
    """Secrets this process holds that no setting names (a channel's, loaded from the
    database): from now on they are taken out of its log lines too."""
    _learned.update(value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LEN)


def _url_password(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def configured_secrets() -> set[str]:
    """The secret values in the settings (read when the first line is written: logging is
    set up while the settings load)."""
    from django.conf import settings

    found: list[str] = [str(getattr(settings, name, "") or "") for name in SECRET_SETTINGS]
    for name in URL_SETTINGS:
        found += _url_password(str(getattr(settings, name, "") or ""))
    for database in getattr(settings, "DATABASES", {}).values():
        found.append(str(database.get("PASSWORD") or ""))
    for provider in getattr(settings, "LLM_PROVIDERS", []):
        found.append(provider[2])
        found += _url_password(provider[0])
    return {value for value in found if len(value) >= MIN_SECRET_LEN}


class Redactor:
    def __init__(self) -> None:
        self._configured: set[str] | None = None

    def __call__(self, text: str) -> str:
        if self._configured is None:
            self._configured = configured_secrets()
        # Longest first: a secret that contains another is hidden whole.
        for secret in sorted(self._configured | _learned, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


# --- Formatters --------------------------------------------------------------------------------


class TextFormatter(logging.Formatter):
    """`time level role logger: message (request … camera …)`, for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(role)s %(name)s: %(message)s")
        self.redact = Redactor()
        self.role = process_role()

    def format(self, record: logging.LogRecord) -> str:
        record.role = self.role
        line = super().format(record)
        context = _record_context(record)
        if context:
            line += " (" + " ".join(f"{name.replace('_id', '')} {value}" for name, value in context.items()) + ")"
        return self.redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log collector: time (UTC, ISO 8601), level, logger,
    message, process (the role) and pid, the context ids where known, the exception."""

    def __init__(self) -> None:
        super().__init__()
        self.redact = Redactor()
        self.role = process_role()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.redact(record.getMessage()),
            "process": self.role,
            "pid": record.process,
        }
        for name, value in _record_context(record).items():
            entry[name] = self.redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING: every process (daphne, the workers, the watcher, manage.py
    commands) logs through one handler with our formatter. JSON goes to stdout, where a
    container's log collector reads it; text to stderr, as before, so that a command's own
    output on stdout (a token's key) stays apart from its log."""
    formatter = "homesec.core.logging.JsonFormatter" if log_format == "json" else "homesec.core.logging.TextFormatter"
    stream = "ext://sys.stdout" if log_format == "json" else "ext://sys.stderr"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"homesec": {"()": formatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "homesec", "stream": stream}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers (a debug-only console, mail to ADMINS) would write past
            # the formatter: its records go to the root's handler like everyone's.
            "django": {"handlers": [], "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
            # django-q2 adds a handler of its own only when none is configured above it.
            "django-q": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
        },
    }

"""Small readers for environment settings that fail loudly on bad values.

A typo in a setting must stop homesec at start-up with the variable's name and
what was wrong, never fall back silently to a default the operator did not ask for.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_env_file(path: Path) -> None:
    """Read KEY=VALUE lines from a .env file into the environment; real variables win."""
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key.strip(), value)


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    return _bounded(name, number, minimum, maximum)


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={value!r} is not a finite number")
    return _bounded(name, number, minimum, maximum)


def _bounded(name, number, minimum, maximum):
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum {maximum}")
    return number


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def env_path(name: str, default: Path, *, base: Path) -> Path:
    value = env_str(name)
    path = Path(value) if value else default
    return (path if path.is_absolute() else base / path).resolve()


def env_port_range(name: str) -> range | None:
    """`60000-60100` -> range(60000, 60101); empty -> None."""
    value = env_str(name)
    if not value:
        return None
    low, sep, high = value.partition("-")
    try:
        first, last = int(low), int(high)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} must look like 60000-60100") from None
    if not sep or not 1024 <= first <= last <= 65535:
        raise ImproperlyConfigured(f"{name}={value!r} must be a range of ports between 1024 and 65535, low-high")
    return range(first, last + 1)


def env_list(name: str, default: tuple[str, ...] = ()) -> list[str]:
    value = _raw(name)
    if not value:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str, *, sqlite_default: Path) -> dict:
    """Turn DATABASE_URL into a Django DATABASES entry (sqlite:// or postgres://)."""
    if not url:
        return sqlite_config(sqlite_default)
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:////abs/path.db (absolute) or sqlite:///relative.db
        path = unquote(parts.path[1:] if parts.path.startswith("//") else parts.path.lstrip("/"))
        if parts.path.startswith("//"):
            path = "/" + path.lstrip("/")
        return sqlite_config(Path(path) if path else sqlite_default)
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL names no database (postgres://user@host:5432/NAME)")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported (use postgres://... or sqlite:///...)"
    )


def sqlite_config(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # IMMEDIATE makes concurrent writers queue on the busy timeout instead of
            # failing with "database is locked" when a read transaction upgrades.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
        "TEST": {"NAME": str(path.with_name(path.stem + "_test.sqlite3"))},
    }

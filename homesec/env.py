"""Small readers for environment settings that fail loudly on bad values.

A typo in a setting must stop homesec at start-up with the variable's name and
what was wrong, never fall back silently to a default the operator did not ask for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

_Number = TypeVar("_Number", int, float)

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


def _bounded(name: str, number: _Number, minimum: _Number | None, maximum: _Number | None) -> _Number:
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


def env_list(name: str, default: tuple[str, ...] = (), *, allow_empty: bool = True) -> list[str]:
    """Comma-separated values; unset or empty -> the default. With allow_empty=False a
    variable that is set but lists nothing is an error rather than the default: the
    operator asked for something the default is not."""
    value = _raw(name)
    if value is None or (value == "" and allow_empty):
        return list(default)
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items and not allow_empty:
        raise ImproperlyConfigured(
            f"{name} is set but lists nothing: list at least one value, or unset it for the default "
            f"({','.join(default)})"
        )
    return items


def env_emails(name: str) -> list[str]:
    """Comma-separated email addresses, each one checked."""
    addresses = env_list(name)
    for address in addresses:
        if ";" in address:
            raise ImproperlyConfigured(f"{name}: separate the addresses with commas, not semicolons")
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(f"{name}: {address!r} is not an email address") from None
    return addresses


_RATE_PERIODS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def env_rate(name: str, default: str) -> str:
    """A request rate for DRF's throttles, N/period. DRF parses it only on the first request
    and reads just the period's first letter, so a bad value fails every API call and
    "600/month" would mean per minute: only second, minute, hour, day (abbreviated or plural)."""
    value = env_str(name, default)
    count, sep, period = value.partition("/")
    word = _RATE_PERIODS.get(period[:1], "")
    if not (sep and count.isdigit() and int(count) >= 1 and word and (word.startswith(period) or period == word + "s")):
        raise ImproperlyConfigured(
            f"{name}={value!r} must be N/second, N/minute, N/hour or N/day, N a whole number from 1 (e.g. 600/minute)"
        )
    return value


def env_url(name: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """An address homesec calls or puts in links: scheme://host[:port][/path]; empty -> ""."""
    value = env_str(name)
    if not value:
        return ""
    parts = urlsplit(value)
    plain = parts.scheme in schemes and parts.hostname and "@" not in parts.netloc
    if not plain or parts.query or parts.fragment or not _port_ok(parts):
        shown = f"={value!r}" if "@" not in value else ""  # never echo a password
        raise ImproperlyConfigured(
            f"{name}{shown} must be an {' or '.join(schemes)} address, scheme://host[:port][/path], "
            "e.g. https://cams.example.org"
        )
    return value


def _port_ok(parts: SplitResult) -> bool:
    try:
        return parts.port is None or parts.port >= 1
    except ValueError:  # not a number, or above 65535
        return False


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ImproperlyConfigured(f"{name}={value!r} is not a time zone (a name like Europe/Berlin, or UTC)") from None
    return value


@dataclass(frozen=True)
class UrlParts:
    scheme: str
    username: str  # percent-decoded, like the password and the path
    password: str
    host: str
    port: int | None
    path: str
    query: dict[str, str]


def url_parts(name: str, value: str) -> UrlParts:
    """Split a URL that may carry a user name and password (postgres://, mqtt://).

    An unencoded / ? or # in a password ends the host part early, so the host would be read
    from the password and the rest taken as path, query or fragment: homesec would connect
    somewhere else or fail with a message about the port. Any @ after the host part is that
    case (or an @ that belongs in the path or query, where %40 works as well). Messages name
    the variable and never echo the value: it holds a password."""
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme:
        raise ImproperlyConfigured(f"{name} must look like scheme://user:password@host:port/...")
    host_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    if "@" in rest[host_end:]:
        raise ImproperlyConfigured(
            f"{name}: a # ? or / in the user name or password must be percent-encoded (# as %23, ? as %3F, "
            "/ as %2F), and so must an @ anywhere but before the host (as %40)"
        )
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name}: the port is not a number from 0 to 65535") from None
    return UrlParts(
        scheme=parts.scheme,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        host=parts.hostname or "",
        port=port,
        path=unquote(parts.path),
        query={key: values[-1] for key, values in parse_qs(parts.query).items()},
    )


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
        pg = url_parts("DATABASE_URL", url)
        name = pg.path.lstrip("/")
        if not name:
            raise ImproperlyConfigured("DATABASE_URL names no database (postgres://user@host:5432/NAME)")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": pg.username,
            "PASSWORD": pg.password,
            "HOST": pg.host,
            "PORT": str(pg.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": pg.query,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {parts.scheme!r} is not supported (use postgres://... or sqlite:///...)"
    )


def sqlite_config(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # Kept open as on PostgreSQL: at 0 every poll of the task queue (the ORM broker, 5 a
        # second in each lane) and every heartbeat opened the file and ran the PRAGMAs
        # again, 2.3 ms of CPU against 0.3 ms (bench/footprint: idle CPU).
        "CONN_MAX_AGE": 60,
        "OPTIONS": {
            # IMMEDIATE makes concurrent writers queue on the busy timeout instead of
            # failing with "database is locked" when a read transaction upgrades.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
        "TEST": {"NAME": str(path.with_name(path.stem + "_test.sqlite3"))},
    }

"""What Django's error pages may show: with HOMESEC_DEBUG=1 the page lists every setting.

Django already hides settings whose names say API, AUTH, TOKEN, KEY, SECRET, PASS or
SIGNATURE. Ours also carry secrets under other names: passwords inside DATABASE_URL,
REDIS_URL and the MQTT URL, keys inside LLM_PROVIDERS, tokens in the path of a webhook URL.
And REDIS_URL is copied into Q_CLUSTER and CHANNEL_LAYERS, where the key names say nothing.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

_OURS = r"DATABASE_URL|REDIS_URL|LLM_PROVIDERS|LLM_URL|NOTIFY_\w*URL"
# Settings (and, on a development server, environment variables) hidden by name.
_HIDDEN_NAMES = re.compile(f"{SafeExceptionReporterFilter.hidden_settings.pattern}|{_OURS}", flags=re.IGNORECASE)
# Settings whose values are hidden wherever else they appear, too.
_SECRET_VALUE_NAMES = re.compile(
    rf"^(?:{_OURS}|SECRET_KEY|EMAIL_HOST_PASSWORD|METRICS_TOKEN|NOTIFY_\w*(?:SECRET|TOKEN))$"
)
# A URL with a password in it (scheme://user:password@host), under any name.
_URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", flags=re.IGNORECASE)


class SecretsHidingFilter(SafeExceptionReporterFilter):
    hidden_settings = _HIDDEN_NAMES

    def __init__(self) -> None:
        super().__init__()
        self._secret_values = _secret_values()

    def is_active(self, request: HttpRequest | None) -> bool:
        # Also with DEBUG on: @sensitive_variables and @sensitive_post_parameters (the
        # password on the sign-in form) are honoured on the debug page too.
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        if isinstance(value, str) and (
            _URL_WITH_PASSWORD.search(value) or any(secret in value for secret in self._secret_values)
        ):
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)


def _secret_values() -> list[str]:
    """Every string inside the secret-carrying settings (REDIS_URL, LLM_PROVIDERS' keys...)."""
    values: list[str] = []

    def collect(value: object) -> None:
        if isinstance(value, str):
            # Short values ("", "0", "default") protect nothing and would hide half the page.
            if len(value) >= 8:
                values.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)

    for name in dir(settings):
        if _SECRET_VALUE_NAMES.match(name):
            collect(getattr(settings, name))
    return values

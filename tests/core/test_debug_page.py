"""With HOMESEC_DEBUG=1 the technical 500 page lists the settings: no secret may be among them."""

import subprocess
import sys

from tests.support.processes import REPO, process_env

SECRETS = {
    "database password": "db-pass-4f1c90",
    "redis password": "redis-pass-9a2e71",
    "mqtt password": "mqtt-pass-77b0c2",
    "first LLM key": "llm-key-c3d8a4",
    "second LLM key": "llm-key-5e6f0b",
    "webhook path token": "T0KENinPATH8812",
}

# Renders the page Django shows for an unhandled exception, in a process configured by the
# environment alone, so the settings are built exactly as at a real start.
RENDER_500 = """
import sys
from django.test import RequestFactory
from django.views.debug import technical_500_response
request = RequestFactory().get("/boom")
try:
    raise RuntimeError("boom")
except RuntimeError:
    response = technical_500_response(request, *sys.exc_info())
sys.stdout.write(response.content.decode())
"""


def test_the_debug_page_shows_no_configured_secret(tmp_path):
    env = process_env(
        tmp_path / "var",
        HOMESEC_DEBUG="1",
        DATABASE_URL=f"postgres://homesec:{SECRETS['database password']}@db.internal:5432/homesec",
        REDIS_URL=f"redis://:{SECRETS['redis password']}@redis.internal:6379/0",
        HOMESEC_NOTIFY_MQTT_URL=f"mqtt://homesec:{SECRETS['mqtt password']}@mqtt.internal:1883/homesec",
        HOMESEC_LLM_PROVIDERS=(
            f"https://llm.internal/v1|qwen|{SECRETS['first LLM key']};"
            f"https://backup.example/v1|gpt|{SECRETS['second LLM key']}"
        ),
        HOMESEC_NOTIFY_WEBHOOK_URL=f"https://hooks.example/services/{SECRETS['webhook path token']}",
        HOMESEC_NOTIFY_WEBHOOK_SECRET="webhook-secret-31d2",
    )
    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "shell", "-v", "0", "-c", RENDER_500],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    page = done.stdout
    # The page did list the settings, so the absence below means something.
    for name in ("DATABASE_URL", "REDIS_URL", "Q_CLUSTER", "CHANNEL_LAYERS", "NOTIFY_MQTT_URL", "LLM_PROVIDERS"):
        assert name in page, name
    shown = [what for what, secret in SECRETS.items() if secret in page]
    assert shown == []

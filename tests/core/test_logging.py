"""Log lines: JSON objects with the process, the request id and the pipeline's ids when
HOMESEC_LOG_FORMAT=json, and no secret in any line of a real process, whatever was logged."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime

import httpx
import pytest
from django.test import Client

from alerts.engine import alerts_evaluate
from alerts.models import AlertRule, Channel, Notification
from homesec.core.logging import JsonFormatter, TextFormatter, log_context, process_role, secret_learn
from homesec.core.management.commands.run import daphne_args
from homesec.core.services import api_token_create
from tests.alerts.factory import FRIDAY_NOON, assessed_event
from tests.support.processes import database_url_for_tests, free_port, manage, process_env, wait_answers, wait_for
from tests.support.servers import LocalServer

# Secrets as an operator configures them, each long and unlike any other text in a log.
SECRET_KEY = "sk-Vq7cTz2LmW9xR4pK8nB3yH6jD1fG5sA0"
DB_PASSWORD = "dbpw-Hy3Kq9Wm2Xz7"
LLM_KEY = "llm-Kd8Wq2Zr5Tn7Yp3"
METRICS_TOKEN = "metrics-Pf4Jk9Lx2Vb6Nm8Q"
CHANNEL_TOKEN = "ntfy-Gh5Rt8Yu2Io4Pl7K"
TYPED_PASSWORD = "typed-Mx6Cv3Bn9Qw1Er"
SECRETS = [SECRET_KEY, DB_PASSWORD, LLM_KEY, METRICS_TOKEN, CHANNEL_TOKEN, TYPED_PASSWORD]


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("homesec.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


# --- The line's fields -----------------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_message_process_and_the_ids_known():
    line = JsonFormatter().format(_record("ingest %s failed", 41, ingest=41, camera="porch"))
    entry = json.loads(line)
    assert entry["message"] == "ingest 41 failed" and entry["level"] == "warning" and entry["logger"] == "homesec.test"
    assert (entry["ingest"], entry["camera"]) == (41, "porch") and "event" not in entry
    assert entry["process"] == process_role() and isinstance(entry["pid"], int)
    assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0


def test_ids_bound_around_work_reach_every_line_inside_it_and_no_further():
    with log_context(event=7, camera="garden"):
        inside = json.loads(JsonFormatter().format(_record("assessed")))
    outside = json.loads(JsonFormatter().format(_record("idle")))
    assert (inside["event"], inside["camera"]) == (7, "garden")
    assert "event" not in outside and "camera" not in outside


def test_text_lines_name_the_process_and_the_ids_too():
    line = TextFormatter().format(_record("closed", event=7))
    assert f" WARNING {process_role()} homesec.test: closed (event 7)" in line


def test_an_exception_is_one_json_line_with_its_traceback():
    try:
        raise ValueError("no such frame")
    except ValueError:
        record = logging.LogRecord("homesec.test", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: no such frame" in json.loads(line)["exception"]


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["/usr/lib/python3/site-packages/daphne/__main__.py", "-b", "127.0.0.1", "homesec.asgi:application"], "web"),
        (["/app/manage.py", "worker"], "worker"),
        (["/app/manage.py", "worker", "--cluster", "slow", "--role", "slow-worker"], "slow-worker"),
        (["manage.py", "worker", "--role=alert-worker"], "alert-worker"),
        (["manage.py", "watch_cameras"], "watcher"),
        (["manage.py", "ftp_server"], "ftp"),
        (["manage.py", "run"], "supervisor"),
        (["manage.py", "cleanup", "--dry-run"], "cleanup"),
    ],
)
def test_the_process_is_named_as_its_heartbeat_is(argv, role):
    assert process_role(argv) == role


# --- Secrets ---------------------------------------------------------------------------------------


@pytest.fixture
def configured(settings):
    settings.SECRET_KEY = SECRET_KEY
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.LLM_PROVIDERS = [("http://127.0.0.1:9/v1", "model", LLM_KEY)]
    settings.DATABASE_URL = f"postgres://homesec:{DB_PASSWORD}@db:5432/homesec"
    return settings


@pytest.mark.parametrize(
    ("message", "hidden"),
    [
        (f"signing with {SECRET_KEY}", SECRET_KEY),
        (f"connection to postgres://homesec:{DB_PASSWORD}@db:5432/homesec failed", DB_PASSWORD),
        (f"password {DB_PASSWORD} rejected", DB_PASSWORD),
        ("redis://:r3dis-pass-word@cache:6379/0 is down", "r3dis-pass-word"),
        (f"provider answered 401 for key {LLM_KEY}", LLM_KEY),
        (f"scrape with {METRICS_TOKEN}", METRICS_TOKEN),
        ("headers {'Authorization': 'Bearer abcdefghijklmnop'}", "abcdefghijklmnop"),
        ("Authorization: Token abcdefghijklmnop", "abcdefghijklmnop"),
        ("Cookie: sessionid=s3ss10n-k3y-value; csrftoken=x", "s3ss10n-k3y-value"),
    ],
)
def test_a_configured_or_recognisable_secret_never_reaches_a_line(configured, message, hidden):
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(_record("%s", message))
        assert hidden not in line and "***" in line


@pytest.mark.django_db
def test_api_token_keys_and_loaded_channel_secrets_are_hidden_too(admin_user):
    _, key = api_token_create(user=admin_user, name="phone")
    Channel.objects.create(name="phone", kind="ntfy", config={"topic": "x"}, secrets={"secret": CHANNEL_TOKEN})
    list(Channel.objects.all())  # loading a channel teaches the process its secret
    line = JsonFormatter().format(_record("key %s, token %s", key, CHANNEL_TOKEN))
    assert key not in line and CHANNEL_TOKEN not in line


def test_a_short_value_is_no_secret_worth_mangling_words_for():
    secret_learn("abc")
    assert "abc" in JsonFormatter().format(_record("abc"))


# --- The request id --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_answer_carries_a_request_id_and_a_proxys_plain_one_is_kept():
    client = Client()
    first, second = client.get("/health")["X-Request-ID"], client.get("/health")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second
    assert client.get("/health", headers={"X-Request-ID": "edge-42.a"})["X-Request-ID"] == "edge-42.a"
    forged = client.get("/health", headers={"X-Request-ID": 'x" "level": "error'})["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)


# --- Real processes --------------------------------------------------------------------------------


class Echo(LocalServer):
    """A receiver that refuses everything and echoes the headers it got, as some do in
    their error pages: the channel's token comes back in the error homesec logs."""

    def handle(self, handler, body: bytes) -> None:
        self.requests.append({"headers": dict(handler.headers.items())})
        said = json.dumps({"error": "unauthorized", "you sent": dict(handler.headers.items())})
        self.send(handler, 401, said.encode(), "application/json")


def _lines(output: str) -> list[dict]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "the process logged nothing"
    return [json.loads(line) for line in lines]  # every line one JSON object


def _env(tmp_path):
    url = database_url_for_tests().replace("@", f":{DB_PASSWORD}@", 1)
    return process_env(
        tmp_path / "var",
        DATABASE_URL=url,
        REDIS_URL="<unset>",
        HOMESEC_LOG_FORMAT="json",
        HOMESEC_SECRET_KEY=SECRET_KEY,
        HOMESEC_METRICS_TOKEN=METRICS_TOKEN,
        HOMESEC_LLM_PROVIDERS=f"http://127.0.0.1:9/v1|model|{LLM_KEY}",
    )


@pytest.mark.django_db(transaction=True)
def test_the_web_process_logs_json_with_request_ids_and_no_secret(spawn, tmp_path, admin_user):
    env = {**_env(tmp_path), "HOMESEC_ACCESS_LOG": "1"}
    manage("collectstatic", "--noinput", env=env)
    port = free_port()
    # As `manage.py run` starts it: with JSON logs, daphne's own (plain) access log is off.
    argv = [sys.executable, "-m", "daphne", *daphne_args(), "homesec.asgi:application"]
    argv[argv.index("-p") + 1] = str(port)
    proc, base = spawn(argv, env, name="daphne"), f"http://127.0.0.1:{port}"
    wait_answers(f"{base}/health", proc)
    with httpx.Client(base_url=base) as browser:
        page = browser.get("/accounts/login/").text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"csrfmiddlewaretoken": csrf, "username": "admin", "password": TYPED_PASSWORD}
        assert browser.post("/accounts/login/", data=form).status_code == 200  # refused: the form again
    headers = {"Authorization": f"Bearer hs_{METRICS_TOKEN}", "X-Request-ID": "trace-1"}
    refused = httpx.get(f"{base}/api/events/", headers=headers)
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "trace-1"
    entries = _lines(wait_for_line(proc, "Unauthorized: /api/events/"))
    [unauthorized] = [e for e in entries if e["message"] == "Unauthorized: /api/events/"]
    assert unauthorized["request_id"] == "trace-1" and unauthorized["process"] == "web"
    assert {"logger": "homesec.access", "message": "GET /api/events/ 401", "request_id": "trace-1"}.items() <= next(
        e for e in entries if e["logger"] == "homesec.access" and "/api/events/" in e["message"]
    ).items()
    assert not [secret for secret in SECRETS if secret in proc.output()]


def wait_for_line(proc, text: str) -> str:
    return wait_for(lambda: text in proc.output() and proc.output(), timeout=10, what=proc.output)


SHELL = """
import logging, os
from alerts.delivery import notification_send
log = logging.getLogger("homesec.check")
log.warning("configured: %s %s %s", os.environ["HOMESEC_SECRET_KEY"], os.environ["HOMESEC_METRICS_TOKEN"], "{llm}")
log.error("could not reach %s", os.environ["DATABASE_URL"])
try:
    raise RuntimeError("the provider refused key {llm}")
except RuntimeError:
    log.exception("assessment failed")
print(notification_send(notification_id={notification}))
"""


@pytest.mark.django_db(transaction=True)
def test_a_command_and_a_failing_channel_with_a_secret_log_json_without_it(tmp_path):
    echo = Echo().start()
    try:
        channel = Channel.objects.create(
            name="phones", kind="ntfy", config={"server": echo.url, "topic": "home"}, secrets={"secret": CHANNEL_TOKEN}
        )
        rule = AlertRule.objects.create(name="everything")
        rule.channels.set([channel])
        [alert] = alerts_evaluate(event_id=assessed_event(score=72).pk, now=FRIDAY_NOON)
        notification = Notification.objects.get(alert=alert)
        code = SHELL.format(llm=LLM_KEY, notification=notification.pk)
        output = manage("shell", "-v", "0", "-c", code, env=_env(tmp_path))
    finally:
        echo.stop()
    assert echo.requests and CHANNEL_TOKEN in str(echo.requests[0]["headers"])  # it was sent, and echoed
    assert output.splitlines()[-1] == "failed"
    entries = _lines("\n".join(output.splitlines()[:-1]))
    assert {e["process"] for e in entries} == {"shell"}
    [disabled] = [e for e in entries if e["message"].startswith("channel phones disabled")]
    assert "you sent" in disabled["message"] and disabled["event"] == alert.event_id
    assert any(":***@" in e["message"] for e in entries)  # the URL's password, not the URL
    assert not [secret for secret in SECRETS if secret in output]

"""The real processes: django-q2 workers, daphne, and the `run` supervisor."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys

import httpx
import pytest
import websockets

from tests.support.processes import REPO, database_url_for_tests, free_port, manage, process_env, wait_for

REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set (make test sets it)")


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_the_redis_broker(tmp_path, spawn):
    from django_q.brokers import get_broker
    from django_q.tasks import async_task, result

    assert type(get_broker()).__name__ == "Redis"
    env = process_env(tmp_path, DATABASE_URL=database_url_for_tests(), REDIS_URL=REDIS_URL)
    worker = spawn([sys.executable, "manage.py", "worker"], env, name="worker")
    task_id = async_task("math.pow", 2, 10)
    assert result(task_id, wait=30_000) == 1024.0, worker.output()


def ws_receive(url: str, token: str, publish, *, timeout: float = 15.0) -> dict:
    """Connect, run `publish` once connected, return the first stored message received."""

    async def go():
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await asyncio.get_running_loop().run_in_executor(None, publish)
            async with asyncio.timeout(timeout):
                while True:
                    data = json.loads(await ws.recv())
                    if data["type"] == "message":
                        return data

    return asyncio.run(go())


def daphne(spawn, env, port: int):
    proc = spawn(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "homesec.asgi:application"],
        env,
        name="daphne",
    )
    wait_for(lambda: _get(f"http://127.0.0.1:{port}/health") == 200, timeout=20, what="daphne")
    return proc


def _get(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def cross_process_message(tmp_path, spawn, env):
    manage("migrate", "--noinput", env=env, timeout=120)
    manage("ensure_admin", env={**env, "HOMESEC_ADMIN_PASSWORD": "admin-pass-123"})
    token = manage("create_api_token", "admin", env=env).strip()
    port = free_port()
    daphne(spawn, env, port)
    code = (
        "from homesec.core.live import live_publish; "
        "live_publish(stream='events', kind='event.opened', payload={'camera': 'front_door'})"
    )
    message = ws_receive(f"ws://127.0.0.1:{port}/ws/events", token, lambda: manage("shell", "-c", code, env=env))
    assert message["kind"] == "event.opened" and message["data"] == {"camera": "front_door"}


def test_a_message_from_another_process_reaches_a_websocket_embedded_default(tmp_path, spawn):
    env = process_env(tmp_path, DATABASE_URL="<unset>", REDIS_URL="<unset>")
    cross_process_message(tmp_path, spawn, env)


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_a_message_from_another_process_reaches_a_websocket_through_redis(tmp_path, spawn):
    env = process_env(
        tmp_path, DATABASE_URL=database_url_for_tests(), REDIS_URL=REDIS_URL, HOMESEC_LIVE_POLL_S="5"
    )  # the tailer is off with Redis; a slow poll would show it
    cross_process_message(tmp_path, spawn, env)


def ready(base: str, client: httpx.Client | None = None) -> tuple[int | None, dict]:
    """/ready's status and report; the details come only to a signed-in `client`."""
    try:
        response = (client or httpx).get(base + "/ready", timeout=2)
        return response.status_code, response.json()
    except (httpx.HTTPError, ValueError):
        return None, {}


@pytest.mark.slow
def test_run_serves_signs_in_and_recovers_killed_and_frozen_workers(tmp_path, spawn):
    """`manage.py run` as `make run` starts it, on the embedded defaults."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = process_env(
        tmp_path / "var",
        DATABASE_URL="<unset>",
        REDIS_URL="<unset>",
        PORT=str(port),
        HOMESEC_ADMIN_PASSWORD="<unset>",
        HOMESEC_ADMIN_USER="<unset>",
    )
    run = spawn([sys.executable, str(REPO / "manage.py"), "run"], env, name="run")
    wait_for(lambda: ready(base)[0] == 200, timeout=60, what=f"/ready 200\n{run.output()}")
    assert httpx.get(base + "/health").status_code == 200

    # Anonymous callers are refused everywhere else.
    assert httpx.get(base + "/").status_code == 302
    assert httpx.get(base + "/admin/").headers["location"].startswith("/accounts/login/")
    assert httpx.get(base + "/api/").status_code == 401

    # The printed first-run credentials sign in through the login page.
    password = re.search(r"password:\s+(\S+)", run.output()).group(1)
    browser = httpx.Client(base_url=base, follow_redirects=False)
    try:
        browser.get("/accounts/login/")
        response = browser.post(
            "/accounts/login/",
            data={
                "username": "admin",
                "password": password,
                "next": "/",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": base + "/accounts/login/"},
        )
        assert response.status_code == 302 and response.headers["location"] == "/"
        assert browser.get("/").status_code == 200
        assert browser.get("/admin/").status_code == 200

        # SIGKILL every process of the worker's cluster: the supervisor brings a new one up.
        worker_pid = ready(base, browser)[1]["checks"]["worker"]["name"].rsplit(":", 1)[1]
        os.killpg(int(worker_pid), signal.SIGKILL)
        new_name = wait_for(
            lambda: (
                lambda s, b: (
                    s == 200
                    and not b["checks"]["worker"]["name"].endswith(f":{worker_pid}")
                    and b["checks"]["worker"]["name"]
                )
            )(*ready(base, browser)),
            timeout=15,
            what="a restarted worker and /ready 200",
        )
        new_pid = int(new_name.rsplit(":", 1)[1])

        # A frozen worker makes /ready fail within 10 s, and recover once it runs again.
        os.kill(new_pid, signal.SIGSTOP)
        try:
            body = wait_for(lambda: (lambda s, b: s == 503 and b)(*ready(base, browser)), timeout=10, what="/ready 503")
            assert body["not_ready"] == ["worker"]
        finally:
            os.kill(new_pid, signal.SIGCONT)
        wait_for(lambda: ready(base, browser)[0] == 200, timeout=10, what="/ready 200 after SIGCONT")
        assert "restarting in" in run.output()
    finally:
        browser.close()

import os
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from homesec.core.models import Heartbeat
from homesec.core.services import heartbeat_beat

pytestmark = pytest.mark.django_db


def beat(role: str, age_s: float = 0.0) -> None:
    heartbeat_beat(role=role, name=f"{role}@test", started_at=timezone.now())
    Heartbeat.objects.filter(name=f"{role}@test").update(beat_at=timezone.now() - timedelta(seconds=age_s))


def test_health_answers_while_the_process_serves(client):
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_is_503_naming_the_processes_without_heartbeats(viewer_client):
    response = viewer_client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert set(body["not_ready"]) == {"worker", "alert-worker", "slow-worker", "watcher"}
    assert body["checks"]["worker"]["error"] == "no heartbeat yet"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_ready_is_200_with_fresh_heartbeats(viewer_client):
    beat("worker")
    beat("alert-worker")
    beat("slow-worker")
    beat("watcher")
    response = viewer_client.get("/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["ready"] is True


def test_a_heartbeat_older_than_five_seconds_is_stale(viewer_client):
    beat("worker", age_s=6)
    beat("alert-worker", age_s=1)
    beat("slow-worker", age_s=1)
    beat("watcher", age_s=1)
    body = viewer_client.get("/ready").json()
    assert body["not_ready"] == ["worker"]
    assert body["checks"]["worker"]["error"].startswith("heartbeat stale for 6.")


@override_settings(MIN_FREE_GB=10**9)
def test_low_disk_makes_ready_fail(viewer_client):
    beat("worker")
    beat("alert-worker")
    beat("slow-worker")
    beat("watcher")
    response = viewer_client.get("/ready")
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["disk"]
    assert "GB free on the data volume" in response.json()["checks"]["disk"]["error"]


def test_anonymous_callers_get_the_status_and_the_failing_check_names_only(client):
    beat("worker")
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"ready": False, "not_ready": ["alert-worker", "slow-worker", "watcher"]}
    assert "worker@test" not in response.content.decode()


def test_signed_in_users_get_the_details(viewer_client):
    beat("worker")
    response = viewer_client.get("/ready")
    assert response.json()["checks"]["worker"]["ok"] is True
    assert response.json()["checks"]["watcher"]["error"] == "no heartbeat yet"
    assert "worker@test" in response.content.decode()


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set (make test sets it)")
def test_ready_pings_redis_over_one_reused_connection(client):
    import redis
    from django.conf import settings

    assert settings.REDIS_URL
    observer = redis.Redis.from_url(settings.REDIS_URL)
    before = observer.info("stats")["total_connections_received"]
    for _ in range(10):
        assert client.get("/ready").status_code == 503
    opened = observer.info("stats")["total_connections_received"] - before
    observer.close()
    assert opened <= 1

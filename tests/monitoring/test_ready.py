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


def test_ready_is_503_naming_the_processes_without_heartbeats(client):
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert set(body["not_ready"]) == {"worker", "slow-worker", "watcher"}
    assert body["checks"]["worker"]["error"] == "no heartbeat yet"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_ready_is_200_with_fresh_heartbeats(client):
    beat("worker")
    beat("slow-worker")
    beat("watcher")
    response = client.get("/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["ready"] is True


def test_a_heartbeat_older_than_five_seconds_is_stale(client):
    beat("worker", age_s=6)
    beat("slow-worker", age_s=1)
    beat("watcher", age_s=1)
    body = client.get("/ready").json()
    assert body["not_ready"] == ["worker"]
    assert body["checks"]["worker"]["error"].startswith("heartbeat stale for 6.")


@override_settings(MIN_FREE_GB=10**9)
def test_low_disk_makes_ready_fail(client):
    beat("worker")
    beat("slow-worker")
    beat("watcher")
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["disk"]
    assert "GB free on the data volume" in response.json()["checks"]["disk"]["error"]

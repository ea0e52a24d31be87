"""A setting that homesec would accept but that cannot work stops it at start, naming the
variable: a real `manage.py check` with the bad value in its environment."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.support.processes import REPO, process_env


def start(tmp_path, **settings: str) -> subprocess.CompletedProcess:
    # process_env drops empty values; an explicitly empty variable is one of the cases here.
    env = {**process_env(tmp_path / "var"), **settings}
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "check"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused_at_load(tmp_path, **settings: str) -> str:
    """The settings refuse to load: returns the error's line (the traceback's last)."""
    done = start(tmp_path, **settings)
    assert done.returncode != 0, f"homesec started with {settings}:\n{done.stdout}{done.stderr}"
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), done.stderr
    return last


def refused_by_checks(tmp_path, **settings: str) -> str:
    done = start(tmp_path, **settings)
    assert done.returncode != 0, f"homesec started with {settings}:\n{done.stdout}{done.stderr}"
    assert "SystemCheckError" in done.stderr, done.stderr
    return done.stderr


@pytest.mark.parametrize("rate", ["600 per minute", "1.5/second", "600/fortnight", "600/month", "0/minute"])
def test_an_api_rate_that_is_not_n_per_period_stops_homesec_at_start(tmp_path, rate):
    assert "HOMESEC_API_RATE" in refused_at_load(tmp_path, HOMESEC_API_RATE=rate)


@pytest.mark.parametrize("hosts", ["", " , "])
def test_an_explicitly_empty_allowed_hosts_stops_homesec_at_start(tmp_path, hosts):
    assert "HOMESEC_ALLOWED_HOSTS" in refused_at_load(tmp_path, HOMESEC_ALLOWED_HOSTS=hosts)


def test_an_admin_password_that_fails_the_password_rules_stops_homesec_at_start(tmp_path):
    done = refused_by_checks(tmp_path, HOMESEC_ADMIN_PASSWORD="short1")
    assert "HOMESEC_ADMIN_PASSWORD" in done
    assert "too short" in done
    assert "short1" not in done


@pytest.mark.django_db
@override_settings(ADMIN_USER="root", ADMIN_PASSWORD="password123")
def test_ensure_admin_refuses_a_password_that_fails_the_password_rules(capsys):
    with pytest.raises(CommandError) as refused:
        call_command("ensure_admin")
    assert "HOMESEC_ADMIN_PASSWORD" in str(refused.value)
    assert "too common" in str(refused.value)
    assert "password123" not in str(refused.value) + capsys.readouterr().out
    assert not get_user_model().objects.filter(username="root").exists()


@pytest.mark.parametrize(("detector", "needs"), [("onnx", "HOMESEC_DETECTOR_MODEL"), ("http", "HOMESEC_DETECTOR_URL")])
def test_a_detector_without_its_model_or_url_stops_homesec_at_start(tmp_path, detector, needs):
    line = refused_at_load(tmp_path, HOMESEC_DETECTOR=detector)
    assert f"HOMESEC_DETECTOR={detector}" in line and needs in line


def test_an_onnx_model_that_is_not_there_stops_homesec_at_start(tmp_path):
    missing = tmp_path / "models" / "yolo.onnx"
    done = refused_by_checks(tmp_path, HOMESEC_DETECTOR="onnx", HOMESEC_DETECTOR_MODEL=str(missing))
    assert f"HOMESEC_DETECTOR_MODEL={str(missing)!r}" in done


@pytest.mark.parametrize("url", ["cams.example.org", "ftp://cams.example.org", "https://", "https://cams:port/"])
def test_a_public_url_that_is_not_http_or_https_stops_homesec_at_start(tmp_path, url):
    assert "HOMESEC_PUBLIC_URL" in refused_at_load(tmp_path, HOMESEC_PUBLIC_URL=url)


@pytest.mark.parametrize("url", ["gpu-box.local:5000", "tcp://gpu-box.local:5000"])
def test_a_detector_url_that_is_not_http_or_https_stops_homesec_at_start(tmp_path, url):
    line = refused_at_load(tmp_path, HOMESEC_DETECTOR="http", HOMESEC_DETECTOR_URL=url)
    assert "HOMESEC_DETECTOR_URL" in line


@pytest.mark.parametrize(
    ("to", "says"),
    [
        ("me@example.org;partner@example.org", "separate the addresses with commas"),
        ("me@example.org,partner", "'partner' is not an email address"),
    ],
)
def test_email_addresses_that_are_not_addresses_stop_homesec_at_start(tmp_path, to, says):
    line = refused_at_load(tmp_path, HOMESEC_NOTIFY_EMAIL_TO=to)
    assert "HOMESEC_NOTIFY_EMAIL_TO" in line and says in line


def test_an_unknown_time_zone_stops_homesec_at_start_naming_the_variable(tmp_path):
    assert "HOMESEC_TIME_ZONE='Europe/Bonn'" in refused_at_load(tmp_path, HOMESEC_TIME_ZONE="Europe/Bonn")


@pytest.mark.parametrize(("char", "encoded"), [("#", "%23"), ("?", "%3F"), ("/", "%2F")])
def test_a_database_password_with_a_raw_reserved_character_says_to_percent_encode_it(tmp_path, char, encoded):
    password = f"pa{char}ss9"
    line = refused_at_load(tmp_path, DATABASE_URL=f"postgres://homesec:{password}@db.local:5432/homesec")
    assert "DATABASE_URL" in line and encoded in line
    assert password not in line

"""The API held to its own OpenAPI schema by schemathesis: a live daphne on this test's
database, an admin's token, a camera with a zone, events with detections, alerts and a
channel, and every operation called with generated input, valid and not. It fails on any
5xx and on any answer the schema does not describe: a status code it does not list, a body
of another shape, another content type.

Alone: make test ARGS="tests/core/test_api_fuzz.py -p no:randomly". What schemathesis sent
and got is in the test's tmp_path (schemathesis/ndjson-*.ndjson, daphne-0.log)."""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import Alert, AlertRule
from homesec.core.services import api_token_create
from tests.alerts.factory import assessed_event, camera, webhook_channel, zone
from tests.support.processes import REPO, pipeline_env, start_daphne, wait_answers

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
HOOKS = REPO / "tests" / "support" / "schemathesis_hooks.py"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SEED = 20261207
EXAMPLES = 8  # per operation, in the fuzzing phase
# The test's budget is two minutes on two cores. daphne's start and the data take about 10 s;
# the run, about 1 650 calls, 55-75 s on a 2-core machine busy with other work (the CPU it
# takes: schemathesis 13 s, daphne 20 s, PostgreSQL besides). One worker: with two, the two
# processes contend for the cores and the run is slower.
RUN_TIMEOUT_S = 100
# Left out, and why: each would break the run itself, not show a fault of the API.
EXCLUDED = {
    "/api/tokens/current/": "DELETE revokes the token the run signs in with: every later call would be a 401",
    "/api/channels/{id}/test/": (
        "POST sends a notification for real, to wherever a fuzzed channel points (any host): "
        "the far end's timeouts, not homesec, would set the run's time"
    ),
}
# What only schemathesis' config file says. Coverage: the systematic invalid input (each
# field of the wrong type, out of range, missing, too long ...); the fuzzing phase draws the
# valid and invalid mix. A PUT takes the fields its PATCH takes: coverage of the PATCH is
# enough. Methods an operation does not have are not tried (DRF's 405s: time for nothing).
CONFIG = """
[phases.coverage]
unexpected-methods = []
generate-duplicate-query-parameters = false

[phases.coverage.generation]
mode = "negative"

[[operations]]
include-method = "PUT"
phases.coverage.enabled = false
"""
# No throttling: the run sends thousands of calls a minute with one token.
UNTHROTTLED = {
    name: "1000000/minute"
    for name in ("HOMESEC_API_RATE", "HOMESEC_API_RATE_AUTH", "HOMESEC_API_RATE_SEARCH", "HOMESEC_API_RATE_EXPORT")
}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_api_operation_keeps_to_the_schema_under_generated_input(tmp_path, spawn, admin_user):
    _seed()
    key = api_token_create(user=admin_user, name="schemathesis")[1]
    env, _ = pipeline_env(tmp_path, **UNTHROTTLED)
    daphne, base = start_daphne(spawn, env)
    wait_answers(base + "/health", daphne)
    headers = {"Authorization": f"Bearer {key}"}
    fetched = httpx.get(base + "/api/schema/", headers=headers, timeout=30)
    assert fetched.status_code == 200, fetched.text
    schema_file = tmp_path / "openapi.json"
    schema_file.write_text(json.dumps(_json_bodies_only(yaml.safe_load(fetched.text))))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    reports = tmp_path / "schemathesis"

    argv = [
        str(SCHEMATHESIS),
        "--config-file", str(config),
        "run", str(schema_file),
        "--url", base,
        "--header", f"Authorization: Bearer {key}",
        "--checks", CHECKS,
        "--phases", "coverage,fuzzing,stateful",
        "--seed", str(SEED),
        "--max-examples", str(EXAMPLES),
        "--workers", "1",
        "--continue-on-failure",
        "--request-timeout", "20",
        "--no-color",
        "--report", "ndjson",
        "--report-dir", str(reports),
        *[option for path in EXCLUDED for option in ("--exclude-path", path)],
    ]  # fmt: skip
    started, cpu_before, daphne_before = time.monotonic(), _children_cpu_s(), _process_cpu_s(daphne.popen.pid)
    try:
        run = subprocess.run(
            argv,
            env={**env, "SCHEMATHESIS_HOOKS": str(HOOKS)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as late:
        pytest.fail(f"schemathesis ran past {RUN_TIMEOUT_S} s\n{_text(late.stdout)[-6000:]}")
    seconds = time.monotonic() - started
    cpu = {"schemathesis": _children_cpu_s() - cpu_before, "daphne": _process_cpu_s(daphne.popen.pid) - daphne_before}
    summary = _summary(reports, seconds, cpu)
    print(summary)
    assert run.returncode == 0, (
        f"{summary}\n{_failures(run.stdout)}\n{run.stderr[-2000:]}\n--- daphne's errors ---\n{_errors(daphne.output())}"
    )


def _seed() -> None:
    """Something for the reads to find: a camera with a zone, three assessed events with
    detections at three levels, an alert for each, a channel (its secret write-only)."""
    now = timezone.now()
    cam = camera("front_door")
    zone(cam.pk, "driveway", kind="entry")
    for n, score in enumerate((15, 55, 90)):
        event = assessed_event(
            at=now - timedelta(hours=n + 1), score=score, seen=(("person", 0.9, ("driveway",)), ("car", 0.6, ()))
        )
        Alert.objects.create(
            event=event,
            camera=cam,
            title=f"Person at the front door ({n})",
            severity="high",
            level=event.risk_level,
            risk_score=score,
            dedup_key=f"front_door:{n}",
            created_at=now,
        )
    webhook_channel("http://127.0.0.1:9/hook")


def _json_bodies_only(schema: dict) -> dict:
    """The request bodies as JSON only: the API's clients send JSON, and form and multipart
    bodies reach the same serializers through DRF's parsers; fuzzing each body three times
    over would cost the run's time for little."""
    for item in schema["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content") if isinstance(operation, dict) else None
            if content and "application/json" in content:
                for media_type in [m for m in content if m != "application/json"]:
                    del content[media_type]
    return schema


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _summary(reports: Path, seconds: float, cpu: dict[str, float]) -> str:
    """Operations tested and calls made, per phase, from schemathesis' NDJSON report."""
    operations: dict[str, set[str]] = {}
    calls: dict[str, int] = {}
    for path in reports.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            finished = json.loads(line).get("ScenarioFinished")
            if not finished or finished.get("status") == "skip":
                continue
            phase, recorder = finished["phase"], finished.get("recorder", {})
            operations.setdefault(phase, set()).add(recorder.get("label", "?"))
            calls[phase] = calls.get(phase, 0) + len(recorder.get("interactions", {}))
    # A stateful scenario is a chain of operations, not one.
    tested = {phase: "" if phase == "stateful" else f"{len(ops)} operations, " for phase, ops in operations.items()}
    phases = ", ".join(f"{phase}: {tested[phase]}{calls[phase]} calls" for phase in operations)
    used = ", ".join(f"{name} {value:.0f} s" for name, value in cpu.items())
    return f"schemathesis in {seconds:.0f} s ({phases}); CPU: {used}"


def _failures(stdout: str) -> str:
    start = stdout.find("FAILURES")
    if start < 0:
        start = stdout.find("ERRORS")
    return stdout[start:][-12000:] if start >= 0 else stdout[-6000:]


def _errors(log: str) -> str:
    """The tracebacks of daphne's 500s, the last few."""
    blocks = log.split("Internal Server Error: ")[1:]
    return "\n".join(block[:3000] for block in blocks[-3:]) or "(none)"


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


# --- What the run found, each pinned: a 500 or an answer the schema did not describe -------


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=admin_user, name='phone')[1]}")
    return client


def _cursor(value, pk, backwards=False) -> str:  # noqa: ANN001
    return base64.urlsafe_b64encode(json.dumps([value, pk, backwards]).encode()).decode().rstrip("=")


def _problem(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


@pytest.mark.django_db
def test_a_services_validation_error_is_a_400_problem_naming_the_field(admin_api):
    camera("front_door")
    taken = admin_api.post("/api/cameras/", {"name": "Front Door"}, format="json")
    assert "name" in _problem(taken, 400)["errors"]
    past = admin_api.post("/api/cameras/front_door/snooze/", {"until": "2000-01-01T00:00:00Z"}, format="json")
    assert _problem(past, 400)["errors"]["non_field_errors"]


@pytest.mark.django_db
@pytest.mark.parametrize("pk", ["AAA", "null,null", "²", "9" * 5000])
def test_an_event_id_that_is_not_a_number_is_a_404(admin_api, pk):
    _problem(admin_api.get(f"/api/events/{pk}/"), 404)
    _problem(admin_api.patch(f"/api/events/{pk}/", {"reviewed": True}, format="json"), 404)
    _problem(admin_api.post(f"/api/events/{pk}/reassess/"), 404)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/events/", "/api/detections/", "/api/alerts/"])
def test_a_time_filter_with_an_offset_postgresql_does_not_take_is_read_in_utc(admin_api, url):
    event = assessed_event()
    Alert.objects.create(event=event, camera=event.camera, title="Person", dedup_key="k", created_at=event.started_at)
    assert admin_api.get(url, {"until": "1769-03-16T06:30:30-22:12"}).status_code == 200
    assert admin_api.get(url, {"since": "2000-01-01T00:00:00-23:59"}).json()["results"]
    assert "since" in _problem(admin_api.get(url, {"since": "0001-01-01T00:00:00+05:00"}), 400)["errors"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"cursor": _cursor(5, 1)},  # a number where the order is by time
        {"cursor": _cursor(None, 1)},
        {"cursor": _cursor([1], 1)},
        {"cursor": _cursor("2026-11-27T12:00:00+00:00", 2**70)},
        {"ordering": "risk_score", "cursor": _cursor("2026-11-27T12:00:00+00:00", 1)},
        {"page_size": "²"},
        {"page_size": "9" * 5000},
    ],
)
def test_a_cursor_or_page_size_the_api_never_gave_out_is_a_400(admin_api, query):
    assessed_event()
    _problem(admin_api.get("/api/events/", query), 400)


@pytest.mark.django_db
def test_a_cursor_in_another_offset_pages_as_the_same_instant(admin_api):
    first = assessed_event()
    after = _cursor("2026-11-28T10:00:00+22:00", first.pk + 1)  # 2026-11-27T12:00Z, just past it
    assert [row["id"] for row in admin_api.get("/api/events/", {"cursor": after}).json()["results"]] == [first.pk]


@pytest.mark.django_db
def test_a_rule_naming_a_camera_id_with_a_nul_is_a_400(admin_api):
    answer = admin_api.post("/api/rules/", {"name": "porch", "cameras": ["front\x00door"]}, format="json")
    assert "cameras" in _problem(answer, 400)["errors"]


@pytest.mark.django_db
def test_the_schema_says_what_the_answers_hold(admin_api, admin_user):
    """A handled_by of null, a rule's times of day without an offset, a 400 from a list."""
    schema = yaml.safe_load(admin_api.get("/api/schema/").content)
    assert schema["components"]["schemas"]["Alert"]["properties"]["handled_by"]["nullable"] is True
    start = schema["components"]["schemas"]["Rule"]["properties"]["start_time"]
    assert "format" not in start and start["nullable"] is True
    rule = AlertRule.objects.create(name="night", start_time="22:00", end_time="06:00")
    assert admin_api.get(f"/api/rules/{rule.pk}/").json()["start_time"] == "22:00:00"
    for url in ("/api/events/", "/api/detections/", "/api/alerts/"):
        assert "400" in schema["paths"][url]["get"]["responses"]

"""/metrics: its scrape token, an exposition Prometheus and promtool accept, counts that
commit with the work they count and never go backwards, and the histogram arithmetic."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import pytest
from django.db import transaction
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from homesec.core.deadletters import dead_letter_record
from homesec.core.models import Breaker, DeadLetter
from monitoring.metrics import (
    BUCKETS,
    STAGE_LATENCY,
    MetricBatch,
    cumulate,
    labels_parse,
    labels_text,
    metric_counts,
    metric_inc,
    metric_observe,
    quantile,
    stage_latency_percentiles,
)
from tests.support.processes import REPO

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-0123456789abcdef"


def scrape(client, token: str = TOKEN) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition by (name, sorted labels), as Prometheus parses it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# --- The scrape token ------------------------------------------------------------------------


@override_settings(METRICS_TOKEN="")
def test_without_a_token_configured_the_metrics_are_off_and_say_how_to_turn_them_on(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 404
    assert b"HOMESEC_METRICS_TOKEN" in response.content


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ", TOKEN],
    ids=["anonymous", "wrong", "basic-scheme", "longer", "empty", "no-scheme"],
)
def test_a_scrape_without_the_right_bearer_token_is_refused(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="homesec metrics"'
    assert TOKEN.encode() not in response.content and b"homesec_" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_signed_in_user_without_the_token_is_refused_too(admin_client):
    assert admin_client.get("/metrics").status_code == 401


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_right_token_gets_the_metrics_without_a_session(client):
    text = scrape(client)
    assert "# TYPE homesec_process_up gauge" in text
    assert "django_http_requests_total_by_method" in text  # django-prometheus's request metrics


@pytest.mark.parametrize("token", ["short", "a token with spaces in it", "tøken-0123456789abcdef"])
def test_a_bad_token_setting_stops_homesec_at_start_up(tmp_path, token):
    from tests.support.processes import manage, process_env

    env = process_env(tmp_path, HOMESEC_METRICS_TOKEN=token)
    with pytest.raises(AssertionError, match="HOMESEC_METRICS_TOKEN must be at least 16 printable ASCII"):
        manage("check", env=env)


# --- The exposition --------------------------------------------------------------------------


def promtool() -> str:
    """promtool (Debian's prometheus package), installed the way make test installs its tools."""
    found = shutil.which("promtool")
    if found is None:
        subprocess.run(["bash", "-c", ". scripts/services.sh && apt_ensure promtool prometheus"], cwd=REPO, check=True)
        found = shutil.which("promtool")
    assert found, "promtool is not installed"
    return found


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_exposition_parses_and_promtool_passes_it(client):
    with transaction.atomic():
        metric_inc("homesec_ingests_total", {"outcome": "done"}, 3)
        metric_inc("homesec_notifications_total", {"channel": "webhook", "outcome": "delivered"})
        metric_observe(STAGE_LATENCY, {"stage": "ingested"}, 0.2)
        metric_observe("homesec_llm_seconds", {"provider": 'odd"host\\name\n/model'}, 7)
    Breaker.objects.create(name="detector", state=Breaker.State.OPEN)
    dead_letter_record(key="ingest:1", task="t", payload={}, error="e")
    text = scrape(client)
    parsed = samples(text)
    assert parsed[("homesec_ingests_total", (("outcome", "done"),))] == 3
    assert parsed[("homesec_llm_seconds_count", (("provider", 'odd"host\\name\n/model'),))] == 1
    assert parsed[("homesec_breaker_state", (("breaker", "detector"), ("state", "open")))] == 1
    assert parsed[("homesec_breaker_state", (("breaker", "detector"), ("state", "closed")))] == 0
    assert parsed[("homesec_dead_letters_waiting", (("stage", "ingest"),))] == 1
    assert parsed[("homesec_dead_letters_total", (("stage", "ingest"),))] == 1
    assert parsed[("homesec_disk_free_bytes", ())] > 0
    assert parsed[("homesec_task_queue_messages", (("lane", "slow"),))] == 0
    assert all(value == 1 for (name, _), value in parsed.items() if name == "homesec_collector_up")

    checked = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == checked.stderr.strip() == "", checked.stdout + checked.stderr  # no lint


@override_settings(METRICS_TOKEN=TOKEN, METRIC_COLLECTORS=["monitoring.collectors.event_metric_families", "no.such"])
def test_a_collector_that_fails_costs_its_own_series_not_the_scrape(client):
    parsed = samples(scrape(client))
    assert parsed[("homesec_collector_up", (("collector", "no.such"),))] == 0
    assert parsed[("homesec_collector_up", (("collector", "monitoring.collectors.event_metric_families"),))] == 1


# --- Counts: with the work, never backwards ----------------------------------------------------


def test_a_count_commits_with_the_work_and_a_rolled_back_one_counted_nothing():
    metric_inc("homesec_ingests_total", {"outcome": "done"})
    with pytest.raises(RuntimeError), transaction.atomic():
        metric_inc("homesec_ingests_total", {"outcome": "done"})
        metric_observe(STAGE_LATENCY, {"stage": "ingested"}, 1.0)
        raise RuntimeError("the work failed")
    counters, histograms = metric_counts()
    assert counters["homesec_ingests_total"] == [({"outcome": "done"}, 1.0)]
    assert STAGE_LATENCY not in histograms


def test_dead_letters_deleted_leave_the_counter_where_it_was():
    for n in range(3):
        dead_letter_record(key=f"detect:{n}", task="t", payload={}, error="e")
    dead_letter_record(key="detect:0", task="t", payload={}, error="again")  # the same letter: not new
    DeadLetter.objects.all().delete()  # discarded, or deleted by retention
    counters, _ = metric_counts()
    assert counters["homesec_dead_letters_total"] == [({"stage": "detect"}, 3.0)]


def test_one_batch_writes_each_series_once_in_one_order(django_assert_num_queries):
    batch = MetricBatch()
    batch.inc("homesec_b_total", {"x": "1"})
    batch.inc("homesec_a_total")
    batch.inc("homesec_b_total", {"x": "1"}, 2)
    batch.observe(STAGE_LATENCY, {"stage": "detected"}, 0.3)
    batch.observe(STAGE_LATENCY, {"stage": "detected"}, 0.4)  # the same bucket
    with django_assert_num_queries(5) as captured:
        batch.write()
    names = [re.search(r"'(homesec_\w+)'", query["sql"]).group(1) for query in captured.captured_queries]
    assert names == sorted(names)  # the same order in every transaction: no deadlock between two
    counters, histograms = metric_counts()
    assert counters["homesec_b_total"] == [({"x": "1"}, 3.0)]
    [detected] = histograms[STAGE_LATENCY]
    assert (detected.count, round(detected.sum, 6)) == (2, 0.7)


# --- Histogram arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected_buckets", "p50", "p95"),
    [
        ([], {}, None, None),
        ([0.0], {0.05: 1}, 0.025, 0.0475),
        ([0.05], {0.05: 1}, 0.025, 0.0475),  # a bound belongs to its own bucket (le: less or equal)
        ([0.051], {0.1: 1}, 0.075, 0.0975),
        ([0.2, 0.3, 0.3, 7.0], {0.25: 1, 0.5: 2, 10.0: 1}, 0.375, 9.0),
        ([1000.0], {math.inf: 1}, 600.0, 600.0),  # past the last bound: the highest finite bound
        ([-1.0], {0.05: 1}, 0.025, 0.0475),  # clocks of two machines a little apart: never negative
    ],
)
def test_histogram_buckets_sums_and_percentiles(values, expected_buckets, p50, p95):
    for value in values:
        metric_observe("homesec_test_seconds", {"stage": "x"}, value)
    _, histograms = metric_counts()
    if not values:
        assert "homesec_test_seconds" not in histograms
        assert quantile(0.5, []) is None
        return
    [h] = histograms["homesec_test_seconds"]
    cumulative = dict(h.buckets)
    for bound in (*BUCKETS, math.inf):
        assert cumulative[bound] == sum(n for b, n in expected_buckets.items() if b <= bound)
    assert (h.count, h.sum) == (len(values), pytest.approx(sum(max(v, 0) for v in values)))
    assert quantile(0.5, h.buckets) == pytest.approx(p50)
    assert quantile(0.95, h.buckets) == pytest.approx(p95)


def test_a_count_under_a_bound_no_longer_used_joins_the_next_bound_up():
    assert dict(cumulate({0.07: 2, 700.0: 1}))[0.1] == 2
    assert dict(cumulate({0.07: 2, 700.0: 1}))[math.inf] == 3


@pytest.mark.parametrize("value", ["porch", 'a "quoted" name', "back\\slash", "new\nline", ""])
def test_labels_are_kept_escaped_and_read_back(value):
    text = labels_text({"camera": value, "a": "1"})
    assert text.startswith('a="1",camera="')
    assert labels_parse(text) == {"a": "1", "camera": value}


# --- The System page and the API -----------------------------------------------------------------


def test_the_api_and_the_system_page_show_each_stage_s_percentiles(viewer_client):
    for value in (0.3, 0.4, 2.0):
        metric_observe(STAGE_LATENCY, {"stage": "detected"}, value)
    [row] = [row for row in stage_latency_percentiles() if row["stage"] == "detected"]
    assert row == {"stage": "detected", "count": 3, "mean_s": 0.9, "p50_s": 0.438, "p95_s": 2.275}

    stats = viewer_client.get("/api/system/stats/").json()
    assert [row["stage"] for row in stats["latency"]] == ["ingested", "detected", "assessed", "alerted", "notified"]
    assert stats["latency"][1] == row

    html = viewer_client.get("/system/").content.decode()
    card = html.split('id="latency"')[1].split("</section>")[0]
    assert '<tr data-stage="detected">' in card and "0.44 s" in card and "2.28 s" in card


def test_the_latency_card_says_when_nothing_was_measured(viewer_client):
    html = viewer_client.get("/system/").content.decode()
    assert "No upload has gone through the pipeline" in html.split('id="latency"')[1].split("</section>")[0]

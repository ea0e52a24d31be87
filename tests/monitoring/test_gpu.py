"""The GPU sampler (monitoring/gpu.py) and what shows it: /api/system/gpu/, the System
page's GPU card and the GPU gauges for /metrics.

Without a GPU through the real "library not found" path of nvidia-ml-py (this machine has
no NVIDIA driver); with one through a fake NVML library object handed to the sampler, which
answers as pynvml does (its functions, its error classes, milliwatts and bytes)."""

# ruff: noqa: N802 - the fake NVML library has pynvml's function names
from __future__ import annotations

import ctypes.util
import importlib
import logging
import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from monitoring.gpu import (
    HISTORY_BUCKET_S,
    HISTORY_BUCKETS,
    GpuSampler,
    gpu_metric_families,
    gpu_status,
    history_key,
)
from monitoring.models import GpuSample, GpuState
from tests.core.test_settings_validation import refused_at_load
from tests.support.processes import pipeline_env, start_manage, wait_for

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 15, 40, 2, tzinfo=UTC)
NO_DRIVER = ctypes.util.find_library("nvidia-ml") is None
UNSUPPORTED = object()  # a reading the fake device answers NVML_ERROR_NOT_SUPPORTED to
GiB = 1024**3


class FakeNvml:
    """NVML as pynvml gives it, for devices described as dicts: handles are indexes, power
    in milliwatts, memory in bytes, encoder/decoder as [percent, sampling period µs]."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, *devices: dict[str, Any]) -> None:
        self.devices = list(devices)
        self.inits = 0
        self.fail: int | None = None  # an NVML error code every reading answers with

    def _answer(self, handle: int, key: str) -> Any:
        if self.fail is not None:
            raise pynvml.NVMLError(self.fail)
        value = self.devices[handle][key]
        if value is UNSUPPORTED:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlInit(self) -> None:
        self.inits += 1

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return self.devices[handle]["name"]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._answer(handle, "gpu"), memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        used, total = self._answer(handle, "memory")
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._answer(handle, "temperature")

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._answer(handle, "power_mw")

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return self._answer(handle, "limit_mw")

    def nvmlDeviceGetEncoderUtilization(self, handle: int) -> list[int]:
        return [self._answer(handle, "encoder"), 167000]

    def nvmlDeviceGetDecoderUtilization(self, handle: int) -> list[int]:
        return [self._answer(handle, "decoder"), 167000]


def rtx(**changes: Any) -> dict[str, Any]:
    device = {
        "name": "NVIDIA GeForce RTX 3060",
        "gpu": 37,
        "memory": (3 * GiB, 12 * GiB),
        "temperature": 61,
        "power_mw": 72_500,
        "limit_mw": 170_000,
        "encoder": 12,
        "decoder": 40,
    }
    return device | changes


def two_gpus() -> FakeNvml:
    # The second answers bytes for its name (older nvidia-ml-py) and reports no power,
    # temperature or video engines (NOT_SUPPORTED), as some datacentre and laptop parts do.
    return FakeNvml(
        rtx(),
        rtx(
            name=b"Tesla T4",
            gpu=0,
            memory=(0, 15 * GiB),
            temperature=UNSUPPORTED,
            power_mw=UNSUPPORTED,
            limit_mw=UNSUPPORTED,
            encoder=UNSUPPORTED,
            decoder=UNSUPPORTED,
        ),
    )


def sampled(nvml: FakeNvml, *moments: datetime) -> GpuSampler:
    sampler = GpuSampler(lambda: nvml)
    for moment in moments:
        sampler.tick(moment)
    return sampler


def gpu_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "homesec.gpu"]


# --- No GPU: the real path of this machine ------------------------------------------------


@pytest.mark.skipif(not NO_DRIVER, reason="this machine has an NVIDIA driver")
def test_without_a_driver_nvml_init_raises_library_not_found():
    with pytest.raises(pynvml.NVMLError_LibraryNotFound):
        pynvml.nvmlInit()


@pytest.mark.skipif(not NO_DRIVER, reason="this machine has an NVIDIA driver")
def test_no_driver_is_one_no_gpu_state_said_once_however_many_turns(caplog):
    caplog.set_level(logging.DEBUG, logger="homesec.gpu")
    sampler = GpuSampler(retry_s=60)  # the real pynvml
    for turn in range(1000):  # 5000 s at 5 s a turn: 83 looks through the real library
        sampler.tick(NOW + timedelta(seconds=5 * turn))
    state = GpuState.objects.get()
    assert not state.available and state.devices == 0
    assert state.reason == "no NVIDIA driver: the NVML library (libnvidia-ml.so) is not found"
    assert state.checked_at == NOW + timedelta(seconds=4980)  # looked again every minute, said nothing more
    [said] = gpu_logs(caplog)
    assert said.levelno == logging.INFO and "libnvidia-ml.so" in said.getMessage()
    assert not GpuSample.objects.exists()


def test_no_nvml_library_installed_is_the_same_state_with_its_reason(caplog):
    caplog.set_level(logging.INFO, logger="homesec.gpu")
    sampler = GpuSampler(lambda: importlib.import_module("pynvml_not_installed_here"))
    for turn in range(10):
        sampler.tick(NOW + timedelta(seconds=5 * turn))
    assert GpuState.objects.get().reason == "nvidia-ml-py (pynvml) is not installed"
    assert len(gpu_logs(caplog)) == 1


def test_a_driver_without_devices_is_no_gpu():
    sampled(FakeNvml(), NOW)
    state = GpuState.objects.get()
    assert (state.available, state.reason) == (False, "no NVIDIA GPU found")


# --- The sampler's arithmetic with a fake NVML -------------------------------------------------


def test_it_stores_each_device_in_watts_bytes_and_percent_and_null_for_what_it_does_not_support(caplog):
    caplog.set_level(logging.INFO, logger="homesec.gpu")
    sampled(two_gpus(), NOW)
    rtx_row, t4_row = GpuSample.objects.order_by("index")
    assert (rtx_row.index, rtx_row.name, rtx_row.sampled_at) == (0, "NVIDIA GeForce RTX 3060", NOW)
    assert rtx_row.utilization_pct == 37
    assert (rtx_row.memory_used_bytes, rtx_row.memory_total_bytes) == (3 * GiB, 12 * GiB)
    assert (rtx_row.temperature_c, rtx_row.power_w, rtx_row.power_limit_w) == (61, 72.5, 170.0)
    assert (rtx_row.encoder_pct, rtx_row.decoder_pct) == (12, 40)
    assert (t4_row.index, t4_row.name, t4_row.utilization_pct) == (1, "Tesla T4", 0)
    assert (t4_row.memory_used_bytes, t4_row.memory_total_bytes) == (0, 15 * GiB)
    unsupported = (t4_row.temperature_c, t4_row.power_w, t4_row.power_limit_w, t4_row.encoder_pct, t4_row.decoder_pct)
    assert unsupported == (None,) * 5
    state = GpuState.objects.get()
    assert (state.available, state.devices, state.reason) == (True, 2, "")
    [said] = gpu_logs(caplog)  # NOT_SUPPORTED is not an error: only the start is said
    assert said.levelno == logging.INFO and "2 GPU(s)" in said.getMessage()


def test_each_turn_writes_one_row_per_device():
    turns = [NOW + timedelta(seconds=5 * n) for n in range(3)]
    sampled(two_gpus(), *turns)
    assert GpuSample.objects.count() == 6
    assert set(GpuSample.objects.values_list("sampled_at", flat=True)) == set(turns)


def test_samples_older_than_a_day_go_checked_once_a_minute():
    def old(age: timedelta) -> GpuSample:
        return GpuSample.objects.create(sampled_at=NOW - age, index=0, name="old")

    gone, kept = old(timedelta(hours=24, seconds=1)), old(timedelta(hours=23, minutes=59))
    sampler = sampled(FakeNvml(rtx()), NOW)
    assert not GpuSample.objects.filter(pk=gone.pk).exists() and GpuSample.objects.filter(pk=kept.pk).exists()
    later = old(timedelta(hours=25))
    sampler.tick(NOW + timedelta(seconds=30))  # within the minute: not looked at
    assert GpuSample.objects.filter(pk=later.pk).exists()
    sampler.tick(NOW + timedelta(minutes=1))
    assert not GpuSample.objects.filter(pk=later.pk).exists()
    sampler.tick(NOW + timedelta(minutes=2, seconds=1))  # now a day and a bit after `kept`
    assert not GpuSample.objects.filter(pk=kept.pk).exists()
    assert GpuSample.objects.filter(name="NVIDIA GeForce RTX 3060").count() == 4


def test_a_gpu_lost_while_sampling_is_no_gpu_said_once_then_looked_at_again(caplog):
    caplog.set_level(logging.INFO, logger="homesec.gpu")
    nvml = FakeNvml(rtx())
    sampler = sampled(nvml, NOW)
    nvml.fail = pynvml.NVML_ERROR_GPU_IS_LOST
    for n in range(1, 12):  # 55 s of turns
        sampler.tick(NOW + timedelta(seconds=5 * n))
    state = GpuState.objects.get()
    assert not state.available and "GPU is lost" in state.reason
    assert [r.levelno for r in gpu_logs(caplog)] == [logging.INFO, logging.WARNING]
    assert nvml.inits == 1 and GpuSample.objects.count() == 1
    nvml.fail = None
    sampler.tick(NOW + timedelta(seconds=65))  # a minute after it was lost
    assert nvml.inits == 2 and GpuState.objects.get().available and GpuSample.objects.count() == 2


# --- What the web process reads: /api/system/gpu/, the card, the metrics --------------------


def api(client: APIClient) -> dict[str, Any]:
    response = client.get("/api/system/gpu/")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_api_refuses_anonymous_callers():
    response = APIClient().get("/api/system/gpu/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_the_api_says_unknown_until_the_watcher_has_looked(viewer_client):
    report = api(viewer_client)
    assert (report["state"], report["devices"], report["checked_at"]) == ("unknown", [], None)
    assert "watcher" in report["reason"]


@pytest.mark.skipif(not NO_DRIVER, reason="this machine has an NVIDIA driver")
def test_the_api_and_the_card_say_no_gpu_and_why(viewer_client):
    GpuSampler().tick(NOW)
    report = api(viewer_client)
    assert report["state"] == "no_gpu" and "libnvidia-ml.so" in report["reason"]
    assert report["devices"] == [] and report["history"]["devices"] == []
    assert parse_datetime(report["checked_at"]) == NOW
    card = system_gpu_card(viewer_client)
    assert "No GPU:" in card and "libnvidia-ml.so" in card and "gpu-device" not in card


@override_settings(GPU_SAMPLE_S=0)
def test_sampling_turned_off_is_no_gpu_with_the_setting_as_reason(viewer_client):
    sampled(FakeNvml(rtx()), NOW)  # rows from before it was turned off are not shown
    report = api(viewer_client)
    assert report["state"] == "no_gpu" and "HOMESEC_GPU_SAMPLE_S=0" in report["reason"]
    assert report["devices"] == []


def test_the_api_gives_each_devices_newest_reading_and_a_day_in_five_minute_averages(viewer_client):
    now = timezone.now()
    nvml = two_gpus()
    sampler = sampled(nvml, now - timedelta(hours=2))
    nvml.devices[0]["gpu"] = 50
    sampler.tick(now - timedelta(seconds=25))
    nvml.devices[0]["gpu"] = 70
    sampler.tick(now - timedelta(seconds=5))

    report = api(viewer_client)
    assert report["state"] == "ok" and report["reason"] == "" and report["sample_interval_s"] == 5.0
    rtx_now, t4_now = report["devices"]
    assert parse_datetime(rtx_now.pop("sampled_at")) == now - timedelta(seconds=5)
    assert 5 <= rtx_now.pop("age_s") < 10
    assert rtx_now == {
        "index": 0,
        "name": "NVIDIA GeForce RTX 3060",
        "stale": False,
        "utilization_pct": 70.0,
        "memory_used_bytes": 3 * GiB,
        "memory_total_bytes": 12 * GiB,
        "temperature_c": 61.0,
        "power_w": 72.5,
        "power_limit_w": 170.0,
        "encoder_pct": 12.0,
        "decoder_pct": 40.0,
    }
    assert t4_now["name"] == "Tesla T4" and t4_now["power_w"] is None and t4_now["temperature_c"] is None

    history = report["history"]
    assert history["bucket_s"] == HISTORY_BUCKET_S == 300 and len(history["t"]) == 288
    assert history["t"][-1] == int(now.timestamp()) // 300 * 300  # the current bucket last
    assert history["t"][0] == history["t"][-1] - 287 * 300
    rtx_past, t4_past = history["devices"]
    assert (rtx_past["index"], t4_past["index"]) == (0, 1)
    utilization = rtx_past["utilization_pct"]
    assert len(utilization) == 288 and utilization[-1 - 24] == 37.0  # two hours ago
    # The last 25 s: one bucket (averaged) or two (at a bucket's start), the newest last or last but one.
    recent = [n for n, value in enumerate(utilization) if value is not None][1:]
    assert [utilization[n] for n in recent] in ([60.0], [50.0, 70.0]) and recent[-1] >= 286
    assert rtx_past["power_w"][recent[-1]] == 72.5 and t4_past["power_w"][recent[-1]] is None
    assert "memory_total_bytes" not in rtx_past


# Readings every half hour for a day, and in each of the last twelve buckets (the last hour).
DAY = sorted(set(range(0, HISTORY_BUCKETS, 6)) | set(range(12)), reverse=True)


def a_day_of_readings(now: datetime) -> None:
    """A reading n buckets ago for each n in DAY, of utilisation n % 100; the newest now."""
    nvml = FakeNvml(rtx())
    sampler = GpuSampler(lambda: nvml)
    for n in DAY:
        nvml.devices[0]["gpu"] = n % 100
        sampler.tick(now - timedelta(seconds=HISTORY_BUCKET_S * n))


def test_the_days_averages_come_from_the_sampler_not_from_a_day_of_rows_at_each_request(viewer_client):
    now = timezone.now()
    a_day_of_readings(now)
    # The request averages only the bucket being filled: older rows are not read again.
    GpuSample.objects.filter(sampled_at__lt=now - timedelta(seconds=HISTORY_BUCKET_S)).delete()
    [device] = api(viewer_client)["history"]["devices"]
    ago = [HISTORY_BUCKETS - 1 - position for position in range(HISTORY_BUCKETS)]
    assert device["utilization_pct"] == [float(n % 100) if n in DAY else None for n in ago]
    assert device["power_w"] == [72.5 if n in DAY else None for n in ago]


def test_without_the_samplers_averages_the_history_is_the_last_hour(viewer_client):
    now = timezone.now()
    a_day_of_readings(now)
    cache.delete(history_key(GpuState.objects.get().checked_at))  # e.g. Redis restarted
    utilization = api(viewer_client)["history"]["devices"][0]["utilization_pct"]
    assert utilization[:-12] == [None] * (HISTORY_BUCKETS - 12)
    assert utilization[-12:] == [float(n) for n in range(11, -1, -1)]


def test_the_openapi_schema_describes_the_gpu_answer(viewer_client):
    schema = viewer_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/system/gpu/"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/GpuStatus")
    status = schema["components"]["schemas"]["GpuStatus"]
    assert {"state", "reason", "devices", "history"} <= set(status["required"])


def system_gpu_card(client) -> str:
    html = client.get("/system/").content.decode()
    return html.split('id="gpu"')[1].split("</section>")[0]


def test_the_card_shows_each_device_and_its_day(viewer_client):
    now = timezone.now()
    sampled(two_gpus(), now - timedelta(hours=1), now - timedelta(minutes=30), now - timedelta(seconds=5))
    card = system_gpu_card(viewer_client)
    assert 'data-gpu="0"' in card and 'data-gpu="1"' in card and "Tesla T4" in card
    assert "37&nbsp;%" in card and "61&nbsp;°C" in card and "73&nbsp;W of 170&nbsp;W" in card and "(25&nbsp;%)" in card
    assert "3.0\xa0GB of 12.0\xa0GB" in card  # filesizeformat: GiB, a no-break space
    rtx_part = card.split('data-gpu="1"')[0]
    assert '<path class="gpu-utilization" d="M' in rtx_part and "stale" not in card and "No GPU" not in card


def test_the_gauges_label_each_device_and_leave_out_what_it_does_not_report():
    sampled(two_gpus(), timezone.now() - timedelta(seconds=5))
    families = {name: (kind, samples) for name, kind, _help, samples in gpu_metric_families()}
    assert families["homesec_gpu_available"] == ("gauge", [({}, 1.0)])
    rtx_labels, t4_labels = {"gpu": "0", "name": "NVIDIA GeForce RTX 3060"}, {"gpu": "1", "name": "Tesla T4"}
    assert families["homesec_gpu_utilization_ratio"] == ("gauge", [(rtx_labels, 0.37), (t4_labels, 0.0)])
    assert families["homesec_gpu_memory_total_bytes"][1] == [(rtx_labels, 12 * GiB), (t4_labels, 15 * GiB)]
    assert families["homesec_gpu_temperature_celsius"][1] == [(rtx_labels, 61.0)]
    assert families["homesec_gpu_power_watts"][1] == [(rtx_labels, 72.5)]
    assert families["homesec_gpu_power_limit_watts"][1] == [(rtx_labels, 170.0)]
    assert families["homesec_gpu_decoder_utilization_ratio"][1] == [(rtx_labels, 0.4)]


def test_only_available_0_when_there_is_no_gpu_or_the_readings_are_stale():
    assert [(name, samples) for name, _kind, _help, samples in gpu_metric_families()] == [
        ("homesec_gpu_available", [({}, 0.0)])
    ]
    sampled(two_gpus(), timezone.now() - timedelta(minutes=5))  # the watcher stopped five minutes ago
    assert [name for name, *_ in gpu_metric_families()] == ["homesec_gpu_available"]
    assert gpu_status()["devices"][0]["stale"] is True


# --- The setting and the watcher's step -------------------------------------------------------


def test_a_sample_interval_under_a_second_is_refused(tmp_path):
    assert "HOMESEC_GPU_SAMPLE_S=0.5" in refused_at_load(tmp_path, HOMESEC_GPU_SAMPLE_S="0.5")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not NO_DRIVER, reason="this machine has an NVIDIA driver")
def test_the_watcher_samples_every_second_and_says_no_gpu_once(tmp_path, spawn):
    env, _root = pipeline_env(tmp_path, HOMESEC_GPU_SAMPLE_S="1", HOMESEC_GPU_RETRY_S="10")
    [watcher] = start_manage(spawn, env, "watch_cameras")
    state = wait_for(lambda: GpuState.objects.first(), timeout=20, what=watcher.output)
    assert not state.available and "libnvidia-ml.so" in state.reason
    first = state.checked_at
    wait_for(lambda: GpuState.objects.get().checked_at > first, timeout=30, what=watcher.output)  # looked again
    assert watcher.output().count("no GPU to sample") == 1, watcher.output()
    assert "Traceback" not in watcher.output()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_card_charts_its_day_with_uplot_and_fits_a_phone(live_server, page, viewer):
    from django.test import Client

    now = timezone.now()
    nvml = two_gpus()
    sampler = GpuSampler(lambda: nvml)
    for n in range(48, -1, -1):  # four hours, a reading every five minutes
        nvml.devices[0]["gpu"] = 20 + n % 60
        sampler.tick(now - timedelta(seconds=HISTORY_BUCKET_S * n))
    client = Client()
    client.force_login(viewer)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/system/")
    canvas = page.locator('[data-gpu="0"] .gpu-chart .uplot canvas')
    canvas.wait_for()  # uPlot took the sparkline's place
    assert 200 <= canvas.evaluate("c => c.getBoundingClientRect().width") <= 390
    assert page.locator('[data-gpu="1"] .gpu-chart .uplot canvas').count() == 1
    assert page.locator(".gpu-chart svg").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    if os.environ.get("HOMESEC_GPU_CARD_SHOT"):
        page.locator("#gpu").screenshot(path=os.environ["HOMESEC_GPU_CARD_SHOT"])

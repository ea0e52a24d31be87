"""The GPU sampler and what the System page, the API and the metrics read of it.

The watcher's clock runs gpu_sample() every HOMESEC_GPU_SAMPLE_S: one GpuSample row per
NVIDIA device (read through NVML, module `pynvml` of nvidia-ml-py), rows older than a day
pruned by the sampler itself. Most homes have no NVIDIA GPU: no library, no driver or no
device is one "no GPU" state with its reason in the GpuState row (the web process samples
nothing and reads it there), said once in the log and looked at again only every
HOMESEC_GPU_RETRY_S, never an error every few seconds.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Avg, Func, IntegerField
from django.utils import timezone

from monitoring.models import GpuSample, GpuState

logger = logging.getLogger("homesec.gpu")

KEEP = timedelta(hours=24)
PRUNE_EVERY = timedelta(minutes=1)
# After sampling worked, an NVML error (a GPU reset, a driver reload) is looked at again soon.
RECOVER_AFTER = timedelta(minutes=1)

# NVML's answers for a reading this device or driver does not give: stored as null.
_UNREADABLE = {
    3,  # NVML_ERROR_NOT_SUPPORTED: e.g. power on many consumer cards, encoder on a datacentre one
    4,  # NVML_ERROR_NO_PERMISSION: some readings need root in a container
    13,  # NVML_ERROR_FUNCTION_NOT_FOUND: a driver older than the bindings
}
_INIT_REASONS = {
    9: "the NVIDIA driver is not loaded",  # NVML_ERROR_DRIVER_NOT_LOADED
    12: "no NVIDIA driver: the NVML library (libnvidia-ml.so) is not found",  # NVML_ERROR_LIBRARY_NOT_FOUND
    4: "no permission to read the GPU through NVML",  # NVML_ERROR_NO_PERMISSION
}


READINGS = (
    "utilization_pct",
    "memory_used_bytes",
    "memory_total_bytes",
    "temperature_c",
    "power_w",
    "power_limit_w",
    "encoder_pct",
    "decoder_pct",
)
# The history: 5-minute averages of every reading but the (constant) memory total, 288 a day.
HISTORY_BUCKET_S = 300
HISTORY_BUCKETS = int(KEEP.total_seconds()) // HISTORY_BUCKET_S
SERIES = tuple(field for field in READINGS if field != "memory_total_bytes")
# bucket -> device index -> (name, one average per SERIES)
Averages = dict[int, dict[int, tuple[str, list[float | None]]]]


def _load_pynvml() -> ModuleType:
    return importlib.import_module("pynvml")


class GpuSampler:
    """One per process (the watcher's). `load` returns the NVML module: pynvml, or in tests
    a fake with the same functions and error classes."""

    def __init__(self, load: Callable[[], Any] = _load_pynvml, *, retry_s: float | None = None) -> None:
        self.load = load
        self.retry = timedelta(seconds=settings.GPU_RETRY_S if retry_s is None else retry_s)
        self.nvml: Any = None
        self.devices: list[tuple[int, Any, str]] = []  # (index, handle, name), read once at start
        self.retry_at: datetime | None = None
        self.pruned_at: datetime | None = None
        self.said = ""  # the last reason logged: each is said once, not every turn
        # The day's averages of completed buckets, kept in the cache for the web process
        # (under one key per sampler run): the System page and the API read 288 averages
        # instead of averaging a day of rows at every request.
        self.history: Averages = {}
        self.bucket = 0  # the bucket being filled; those before it are in self.history
        self.history_key = ""

    def tick(self, now: datetime) -> None:
        if self.nvml is None:
            if self.retry_at is not None and now < self.retry_at:
                return
            if not self._start(now):
                return
        try:
            rows = [self._read(index, handle, name, now) for index, handle, name in self.devices]
        except self.nvml.NVMLError as exc:
            self._stop(now, f"NVML error while reading: {exc}", retry=RECOVER_AFTER, level=logging.WARNING)
            return
        with transaction.atomic():
            GpuSample.objects.bulk_create(rows)
            if self.pruned_at is None or now - self.pruned_at >= PRUNE_EVERY:
                GpuSample.objects.filter(sampled_at__lt=now - KEEP).delete()
                self.pruned_at = now
        bucket = _bucket_of(now)
        if bucket > self.bucket:  # once every HISTORY_BUCKET_S: average the bucket(s) just done
            self.history.update(bucket_averages(self.bucket, bucket))
            self.history = {b: v for b, v in self.history.items() if b > bucket - HISTORY_BUCKETS}
            cache.set(self.history_key, self.history, HISTORY_CACHE_S)
            self.bucket = bucket

    def _start(self, now: datetime) -> bool:
        try:
            nvml = self.load()
        except ImportError:
            self._no_gpu(now, "nvidia-ml-py (pynvml) is not installed")
            return False
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            self._no_gpu(now, _INIT_REASONS.get(exc.value, f"NVML could not start: {exc}"))
            return False
        try:
            devices = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                devices.append((index, handle, _text(nvml.nvmlDeviceGetName(handle))))
        except nvml.NVMLError as exc:
            nvml.nvmlShutdown()
            self._no_gpu(now, f"NVML could not list the GPUs: {exc}")
            return False
        if not devices:
            nvml.nvmlShutdown()
            self._no_gpu(now, "no NVIDIA GPU found")
            return False
        self._set_state(now, available=True, reason="", devices=len(devices))
        # The day before this start (a restarted watcher): averaged once here.
        self.bucket, self.history_key = _bucket_of(now), history_key(now)
        self.history = bucket_averages(self.bucket - HISTORY_BUCKETS + 1, self.bucket)
        cache.set(self.history_key, self.history, HISTORY_CACHE_S)
        self.nvml, self.devices, self.said = nvml, devices, ""
        names = ", ".join(f"{index}: {name}" for index, _, name in devices)
        logger.info("sampling %d GPU(s) every %g s (%s)", len(devices), settings.GPU_SAMPLE_S, names)
        return True

    def _no_gpu(self, now: datetime, reason: str, *, retry: timedelta | None = None, level: int = logging.INFO) -> None:
        wait = retry or self.retry
        self._set_state(now, available=False, reason=reason, devices=0)  # first: a failed write is retried next turn
        self.retry_at = now + wait
        if reason != self.said:
            logger.log(level, "no GPU to sample: %s (looking again every %g s)", reason, wait.total_seconds())
            self.said = reason

    def _stop(self, now: datetime, reason: str, *, retry: timedelta, level: int) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass  # the library is in a bad way already; starting again re-initialises it
        self.nvml, self.devices = None, []
        self._no_gpu(now, reason, retry=retry, level=level)

    def _set_state(self, now: datetime, *, available: bool, reason: str, devices: int) -> None:
        GpuState.objects.update_or_create(
            pk=1, defaults={"available": available, "reason": reason[:300], "devices": devices, "checked_at": now}
        )

    def _read(self, index: int, handle: Any, name: str, now: datetime) -> GpuSample:
        nvml = self.nvml

        def reading(read: Callable[[], Any]) -> Any:
            try:
                return read()
            except nvml.NVMLError as exc:
                if exc.value in _UNREADABLE:
                    return None
                raise

        utilization = reading(lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
        memory = reading(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        power_mw = reading(lambda: nvml.nvmlDeviceGetPowerUsage(handle))
        limit_mw = reading(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle))
        encoder = reading(lambda: nvml.nvmlDeviceGetEncoderUtilization(handle))  # [percent, sampling period µs]
        decoder = reading(lambda: nvml.nvmlDeviceGetDecoderUtilization(handle))
        return GpuSample(
            sampled_at=now,
            index=index,
            name=name,
            utilization_pct=None if utilization is None else float(utilization.gpu),
            memory_used_bytes=None if memory is None else int(memory.used),
            memory_total_bytes=None if memory is None else int(memory.total),
            temperature_c=reading(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
            power_w=None if power_mw is None else power_mw / 1000,
            power_limit_w=None if limit_mw is None else limit_mw / 1000,
            encoder_pct=None if encoder is None else float(encoder[0]),
            decoder_pct=None if decoder is None else float(decoder[0]),
        )


def _text(name: str | bytes) -> str:
    # Older nvidia-ml-py releases answer bytes.
    return name.decode(errors="replace") if isinstance(name, bytes) else name


_sampler: GpuSampler | None = None


def gpu_sample() -> None:
    """The watcher's clock step (settings.GPU_SAMPLER). Without a GPU a turn touches neither
    NVML nor the database until it is time to look again."""
    global _sampler
    if _sampler is None:
        _sampler = GpuSampler()
    _sampler.tick(timezone.now())


# --- Reads: the System page, /api/system/gpu/ and /metrics -------------------------------------


def stale_after_s() -> float:
    """A device's newest sample older than this says the sampler stopped (the watcher is down)."""
    return max(30.0, 3 * settings.GPU_SAMPLE_S)


def gpu_latest(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each device's newest reading, by index: the rows of the newest turn (one turn writes
    every device with one time)."""
    now = now or timezone.now()
    newest = GpuSample.objects.order_by("-sampled_at").values_list("sampled_at", flat=True).first()
    if newest is None:
        return []
    out = []
    for row in GpuSample.objects.filter(sampled_at=newest).order_by("index"):
        age = (now - row.sampled_at).total_seconds()
        reading = {field: getattr(row, field) for field in READINGS}
        out.append(
            {"index": row.index, "name": row.name, "sampled_at": row.sampled_at}
            | reading
            | {"age_s": round(age, 1), "stale": age > stale_after_s()}
        )
    return out


# --- History ------------------------------------------------------------------------------

HISTORY_CACHE_S = int(KEEP.total_seconds()) + 3600
# Buckets the web averages itself when the sampler's are not in the cache (an hour at most).
LIVE_BUCKETS = 12


def _bucket_of(moment: datetime) -> int:
    return int(moment.timestamp()) // HISTORY_BUCKET_S


def history_key(run: datetime) -> str:
    """The cache key of the history of the sampler run that started at `run` (GpuState's
    checked_at while it samples): a restarted watcher's history never mixes with an older one."""
    return f"gpu-history:{run.timestamp():.6f}"


class _Bucket(Func):
    """A time's bucket, Unix seconds // HISTORY_BUCKET_S, worked out in the database so that
    it returns one row per device and bucket."""

    output_field = IntegerField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = f"FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / {HISTORY_BUCKET_S})::bigint"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django keeps times in SQLite as UTC text, which julianday() reads (days since 4713 BC).
        template = f"CAST((julianday(%(expressions)s) - 2440587.5) * 86400 / {HISTORY_BUCKET_S} AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


def bucket_averages(first: int, end: int) -> Averages:
    """Each device's average readings in the buckets from `first` up to `end` (excluded): one
    grouped query over the indexed time."""
    since, until = (datetime.fromtimestamp(b * HISTORY_BUCKET_S, tz=UTC) for b in (first, end))
    rows = (
        GpuSample.objects.filter(sampled_at__gte=since, sampled_at__lt=until)
        .annotate(bucket=_Bucket("sampled_at"))
        .values("index", "name", "bucket")
        .annotate(**{f"avg_{field}": Avg(field) for field in SERIES})
        .order_by()
    )
    averages: Averages = {}
    for row in rows:
        values = [row[f"avg_{field}"] for field in SERIES]
        averages.setdefault(row["bucket"], {})[row["index"]] = (
            row["name"],
            [None if value is None else round(value, 2) for value in values],
        )
    return averages


def gpu_history(*, run: datetime | None, now: datetime | None = None) -> dict[str, Any]:
    """The last 24 hours per device in HISTORY_BUCKET_S buckets (oldest first, null where
    nothing was read), in columns that a chart takes as they are: `t` (bucket starts, Unix
    seconds) and per device one list per reading. The completed buckets come from the
    sampler run `run` (the cache); the web averages only those since (normally the one being
    filled), and at most the last hour when the cache has nothing."""
    now = now or timezone.now()
    current = _bucket_of(now)
    first = current - HISTORY_BUCKETS + 1
    stored: Averages = (cache.get(history_key(run)) if run else None) or {}
    live_from = max(first, current - LIVE_BUCKETS + 1, max(stored, default=first) + 1)
    averages = stored | bucket_averages(live_from, current + 1)
    devices: dict[int, dict[str, Any]] = {}
    for bucket in sorted(b for b in averages if first <= b <= current):
        for index, (name, values) in averages[bucket].items():
            device = devices.setdefault(index, {"index": index} | {field: [None] * HISTORY_BUCKETS for field in SERIES})
            device["name"] = name  # the newest
            for field, value in zip(SERIES, values, strict=True):
                device[field][bucket - first] = value
    return {
        "bucket_s": HISTORY_BUCKET_S,
        "t": [(first + n) * HISTORY_BUCKET_S for n in range(HISTORY_BUCKETS)],
        "devices": [devices[index] for index in sorted(devices)],
    }


def gpu_status(*, now: datetime | None = None) -> dict[str, Any]:
    """The GPU card's and /api/system/gpu/'s report: `state` "ok" (devices read), "no_gpu"
    (with the reason: sampling off, no library, no driver, no device, NVML failing) or
    "unknown" (the watcher has not looked yet); each device's newest reading; 24 h history."""
    now = now or timezone.now()
    report: dict[str, Any] = {
        "state": "unknown",
        "reason": "not looked at yet: the watcher reads the GPU when it starts",
        "checked_at": None,
        "sample_interval_s": settings.GPU_SAMPLE_S,
        "devices": [],
        "history": {"bucket_s": HISTORY_BUCKET_S, "t": [], "devices": []},
    }
    if not settings.GPU_SAMPLE_S:
        return report | {"state": "no_gpu", "reason": "GPU sampling is off (HOMESEC_GPU_SAMPLE_S=0)"}
    state = GpuState.objects.filter(pk=1).first()
    if state is not None:
        report |= {
            "state": "ok" if state.available else "no_gpu",
            "reason": state.reason,
            "checked_at": state.checked_at,
        }
    if state is not None and state.available:  # else there is nothing to read: one query
        report["devices"] = gpu_latest(now=now)
        report["history"] = gpu_history(run=state.checked_at, now=now)
    return report


# (name, reading, scale to the metric's unit, help)
_GAUGES = (
    ("homesec_gpu_utilization_ratio", "utilization_pct", 0.01, "GPU busy time over NVML's last sample period (0-1)."),
    ("homesec_gpu_memory_used_bytes", "memory_used_bytes", 1, "GPU memory in use."),
    ("homesec_gpu_memory_total_bytes", "memory_total_bytes", 1, "GPU memory in all."),
    ("homesec_gpu_temperature_celsius", "temperature_c", 1, "GPU core temperature."),
    ("homesec_gpu_power_watts", "power_w", 1, "GPU power draw."),
    ("homesec_gpu_power_limit_watts", "power_limit_w", 1, "GPU power limit enforced by the driver."),
    ("homesec_gpu_encoder_utilization_ratio", "encoder_pct", 0.01, "Video encoder busy time (0-1)."),
    ("homesec_gpu_decoder_utilization_ratio", "decoder_pct", 0.01, "Video decoder busy time (0-1)."),
)

Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]


def gpu_metric_families() -> list[Family]:
    """The GPU gauges for /metrics (a METRIC_COLLECTORS entry), labelled by device index and
    name: each device's newest reading while it is fresh (a stopped sampler's last values
    would read as a GPU frozen in time), and homesec_gpu_available, 1 while devices are read."""
    fresh = [row for row in gpu_latest() if not row["stale"]]
    families: list[Family] = [
        (
            "homesec_gpu_available",
            "gauge",
            "1 while the GPU sampler reads at least one GPU; 0 with no GPU (/api/system/gpu/ says why).",
            [({}, 1.0 if fresh else 0.0)],
        )
    ]
    for name, field, scale, help_text in _GAUGES:
        samples = [
            ({"gpu": str(row["index"]), "name": row["name"]}, row[field] * scale)
            for row in fresh
            if row[field] is not None
        ]
        if samples:
            families.append((name, "gauge", help_text, samples))
    return families

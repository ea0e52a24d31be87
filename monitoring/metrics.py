"""homesec's Prometheus counters and histograms: written by the work they count, read by
`/metrics` (monitoring/views.py).

Why the counts live in the database (MetricCount rows) and not in each process's memory,
nor in prometheus_client's multiprocess mode:

- Every process does part of the work (the watcher, three worker lanes, the web process),
  and the supervisor restarts any of them; an in-memory counter would restart at zero, and
  the web process that answers the scrape would not see the others' counts at all.
- The multiprocess mode keeps one file per PID: a worker respawned after a SIGKILL leaves
  its files behind (they pile up, and a dead PID's counts must be merged by hand or are
  lost), it needs a shared writable folder on every machine, and it cannot count work done
  on a second machine against the same database.
- Counting rows at scrape time goes backwards when retention deletes the rows counted.

So each count is one row, incremented by an upsert in the caller's transaction: the count
commits exactly when the work does (a rolled-back or killed piece of work counted nothing),
it survives any restart, and retention never touches it. A histogram is stored as its
non-cumulative bucket counts plus `_sum` and `_count`; the scrape cumulates them.

The writes lock their rows until the caller commits: every call writes its rows in one
sorted order so two transactions never wait for each other in a circle, and callers count
at the end of their transaction (MetricBatch gathers one transaction's counts into one
sorted write). This module imports no homesec app, so every app may call it.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.utils import timezone

from monitoring.models import MetricCount

# Upper bounds (seconds) of the histogram buckets: from a fast detection (50 ms) to a
# language model's slowest answer or an event held open for minutes (10 min); +Inf beyond.
BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

Labels = Mapping[str, str] | None

STAGE_LATENCY = "homesec_stage_latency_seconds"
# The pipeline's stages in order, as the `stage` label of STAGE_LATENCY names them.
STAGES = ("ingested", "detected", "assessed", "alerted", "notified")


def bound_text(bound: float) -> str:
    """A bucket bound as Prometheus writes it (`0.05`, `1.0`, `+Inf`)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def labels_text(labels: Labels) -> str:
    """The labels rendered once, sorted by name, as MetricCount.labels keeps them (the key)."""
    return ",".join(f'{name}="{_escape(str(value))}"' for name, value in sorted((labels or {}).items()))


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


def labels_parse(text: str) -> dict[str, str]:
    return {
        name: re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(0), m.group(0)), value)
        for name, value in _LABEL.findall(text)
    }


@dataclass
class MetricBatch:
    """One transaction's counts, written together in one sorted order (see the docstring)."""

    rows: dict[tuple[str, str], float] = field(default_factory=dict)

    def inc(self, name: str, labels: Labels = None, by: float = 1.0) -> None:
        key = (name, labels_text(labels))
        self.rows[key] = self.rows.get(key, 0.0) + by

    def observe(self, name: str, labels: Labels, value_seconds: float) -> None:
        """One observation: its own bucket (+1), `_sum` (+value) and `_count` (+1)."""
        value = max(0.0, float(value_seconds))  # clocks of two machines may disagree a little
        self.inc(f"{name}_bucket", {**(labels or {}), "le": bound_text(_bucket_of(value))})
        self.inc(f"{name}_sum", labels, value)
        self.inc(f"{name}_count", labels)

    def stage_reached(self, stage: str, since: datetime | None) -> None:
        """A piece of work reached `stage` now: its seconds from `since` (an upload's arrival)."""
        if since is not None:
            self.observe(STAGE_LATENCY, {"stage": stage}, (timezone.now() - since).total_seconds())

    def write(self) -> None:
        table = connection.ops.quote_name(MetricCount._meta.db_table)
        sql = (
            f"INSERT INTO {table} (name, labels, value) VALUES (%s, %s, %s) "
            f"ON CONFLICT (name, labels) DO UPDATE SET value = {table}.value + excluded.value"
        )
        with connection.cursor() as cursor:
            for (name, labels), by in sorted(self.rows.items()):
                if by:
                    cursor.execute(sql, [name, labels, by])
        self.rows.clear()


def metric_inc(name: str, labels: Labels = None, by: float = 1.0) -> None:
    """Add `by` to the counter `name` (`..._total`) with these labels, in the caller's transaction."""
    batch = MetricBatch()
    batch.inc(name, labels, by)
    batch.write()


def metric_observe(name: str, labels: Labels, value_seconds: float) -> None:
    """One observation of the histogram `name` (`..._seconds`), in the caller's transaction."""
    batch = MetricBatch()
    batch.observe(name, labels, value_seconds)
    batch.write()


# --- Reading: cumulative histograms and their percentiles ----------------------------------


@dataclass
class Histogram:
    """One histogram series as the scrape shows it: cumulative buckets (bound, count), +Inf last."""

    labels: dict[str, str]
    buckets: list[tuple[float, float]]
    sum: float
    count: float


def _bucket_of(value: float) -> float:
    """The upper bound of the bucket `value` falls in (bounds are inclusive, as `le` says)."""
    index = bisect_left(BUCKETS, value)
    return BUCKETS[index] if index < len(BUCKETS) else math.inf


def cumulate(per_bucket: Mapping[float, float]) -> list[tuple[float, float]]:
    """Non-cumulative counts by upper bound -> cumulative counts for every bound, +Inf last.
    A count stored under a bound no longer in BUCKETS joins the next bound up."""
    counts: dict[float, float] = {}
    for bound, n in per_bucket.items():
        counts[_bucket_of(bound)] = counts.get(_bucket_of(bound), 0.0) + n
    total, out = 0.0, []
    for bound in (*BUCKETS, math.inf):
        total += counts.get(bound, 0.0)
        out.append((bound, total))
    return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile estimated from cumulative buckets the way Prometheus's
    histogram_quantile does: linear within the bucket the rank falls in; in the +Inf bucket,
    the highest finite bound. None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > lower_count:
            if math.isinf(bound):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def metric_counts(
    *, names: list[str] | None = None
) -> tuple[dict[str, list[tuple[dict[str, str], float]]], dict[str, list[Histogram]]]:
    """Every stored series, or those of the histograms `names`: (counters by name,
    histograms by name), one query."""
    counters: dict[str, list[tuple[dict[str, str], float]]] = {}
    parts: dict[tuple[str, str], dict] = {}
    stored = MetricCount.objects.order_by("name", "labels")
    if names is not None:
        stored = stored.filter(name__in=[f"{n}_{suffix}" for n in names for suffix in ("bucket", "sum", "count")])
    rows = list(stored.values_list("name", "labels", "value"))
    histogram_names = {name[: -len("_bucket")] for name, _, _ in rows if name.endswith("_bucket")}
    for name, text, value in rows:
        base, _, suffix = name.rpartition("_")
        if base not in histogram_names or suffix not in ("bucket", "sum", "count"):
            counters.setdefault(name, []).append((labels_parse(text), value))
            continue
        labels = labels_parse(text)
        le = labels.pop("le", "+Inf")
        part = parts.setdefault(
            (base, labels_text(labels)), {"labels": labels, "per_bucket": {}, "sum": 0.0, "count": 0.0}
        )
        if suffix == "bucket":
            part["per_bucket"][float(le)] = value
        else:
            part[suffix] = value
    histograms: dict[str, list[Histogram]] = {}
    for (base, _), part in sorted(parts.items()):
        histograms.setdefault(base, []).append(
            Histogram(part["labels"], cumulate(part["per_bucket"]), part["sum"], part["count"])
        )
    return counters, histograms


def stage_latency_percentiles() -> list[dict]:
    """Per stage, in pipeline order: how many got there and the p50/p95 seconds from
    arrival, estimated from the histogram's buckets (so never finer than a bucket)."""
    _, histograms = metric_counts(names=[STAGE_LATENCY])
    by_stage = {h.labels.get("stage", ""): h for h in histograms.get(STAGE_LATENCY, [])}
    out = []
    for stage in STAGES:
        h = by_stage.get(stage)
        buckets = h.buckets if h else []
        out.append(
            {
                "stage": stage,
                "count": int(h.count) if h else 0,
                "mean_s": round(h.sum / h.count, 3) if h and h.count else None,
                "p50_s": _rounded(quantile(0.5, buckets)),
                "p95_s": _rounded(quantile(0.95, buckets)),
            }
        )
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- The exposition (Prometheus text format 0.0.4) -----------------------------------------

# What each series means (its HELP line). A name counted elsewhere and missing here is
# still exposed, with a plain HELP line.
HELP = {
    "homesec_ingests_total": "Uploads processed, by outcome (done, duplicate, rejected, failed).",
    "homesec_stage_latency_seconds": "From an upload's arrival to each stage (ingested, detected per file; "
    "assessed, alerted, notified per event, from the arrival of its first file).",
    "homesec_detector_seconds": "Detector inference time per file, by backend.",
    "homesec_detector_errors_total": "Detector calls that failed, by backend and kind (outage, rejected, bad_answer).",
    "homesec_llm_seconds": "Language-model answer time per call that answered, by provider.",
    "homesec_llm_errors_total": "Language-model calls that gave no usable answer, by provider.",
    "homesec_assessments_total": "Assessments stored on events, by the level they gave and the analyzer.",
    "homesec_alerts_total": "Alerts raised for events, by severity.",
    "homesec_notifications_total": "Notification attempts by channel kind and outcome (delivered, retry, "
    "deferred, failed).",
    "homesec_dead_letters_total": "Work that failed for good (dead letters recorded), by stage.",
    "homesec_cleanup_runs_total": "Retention runs that deleted (dry runs not counted), by status (done, failed).",
    "homesec_cleanup_freed_bytes_total": "Bytes of media and uploads retention removed from disk.",
}

COUNTER, GAUGE = "counter", "gauge"
# (name, kind, help, [(labels, value), ...]): what a scrape-time collector returns.
Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]


def _value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _sample(name: str, labels: Mapping[str, str], value: float) -> str:
    text = labels_text(labels)
    return f"{name}{{{text}}} {_value(value)}" if text else f"{name} {_value(value)}"


def _head(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}", f"# TYPE {name} {kind}"]


def render_family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    return [*_head(name, kind, help_text), *(_sample(name, labels, value) for labels, value in samples)]


def render_histogram(name: str, help_text: str, series: list[Histogram]) -> list[str]:
    lines = _head(name, "histogram", help_text)
    for h in series:
        lines += [_sample(f"{name}_bucket", {**h.labels, "le": bound_text(b)}, n) for b, n in h.buckets]
        lines += [_sample(f"{name}_sum", h.labels, h.sum), _sample(f"{name}_count", h.labels, h.count)]
    return lines


def render_counts() -> list[str]:
    """The stored counters and histograms, as exposition lines."""
    counters, histograms = metric_counts()
    lines: list[str] = []
    for name, samples in sorted(counters.items()):
        lines += render_family(name, COUNTER, HELP.get(name, f"homesec count {name}."), samples)
    for name, series in sorted(histograms.items()):
        lines += render_histogram(name, HELP.get(name, f"homesec histogram {name}."), series)
    return lines

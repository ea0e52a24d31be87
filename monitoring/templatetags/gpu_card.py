"""The System page's GPU card (templates/monitoring/_gpu_card.html): each device's newest
reading and a 24-hour sparkline drawn here as SVG paths, which static/homesec/gpu.js
replaces with a uPlot chart (axes, values on hover) where scripts run."""

from __future__ import annotations

from typing import Any

from django import template

from monitoring.gpu import gpu_status

register = template.Library()

# The sparkline's drawing box (viewBox units): one x step per history bucket.
WIDTH, HEIGHT = 288, 40


def _path(values: list[float | None], top: float) -> str:
    """An SVG path of `values` scaled to 0..top, broken where nothing was read."""
    step = WIDTH / max(1, len(values) - 1)
    parts, pen_down = [], False
    for n, value in enumerate(values):
        if value is None or top <= 0:
            pen_down = False
            continue
        y = HEIGHT - min(value, top) / top * HEIGHT
        # A reading alone between gaps is a short dash, not an invisible zero-length move.
        parts.append(f"L{n * step:.1f} {y:.1f}" if pen_down else f"M{n * step:.1f} {y:.1f} h0.5")
        pen_down = True
    return " ".join(parts)


@register.inclusion_tag("monitoring/_gpu_card.html")
def gpu_card() -> dict[str, Any]:
    report = gpu_status()
    history = {device["index"]: device for device in report["history"]["devices"]}
    devices = []
    for device in report["devices"]:
        past = history.get(device["index"], {})
        total = device["memory_total_bytes"]
        devices.append(
            device
            | {
                "memory_pct": round(100 * device["memory_used_bytes"] / total)
                if total and device["memory_used_bytes"] is not None
                else None,
                "utilization_path": _path(past.get("utilization_pct", []), 100),
                "memory_path": _path(past.get("memory_used_bytes", []), total or 0),
            }
        )
    # What gpu.js draws with uPlot in place of the sparklines: only the two series shown.
    chart = {
        "t": report["history"]["t"],
        "devices": [
            {key: device[key] for key in ("index", "utilization_pct", "memory_used_bytes")}
            for device in report["history"]["devices"]
        ],
    }
    return {"gpu": report, "devices": devices, "chart": chart, "width": WIDTH, "height": HEIGHT}

"""Zones: is an object's bottom-centre (where it stands) inside a polygon?"""

from __future__ import annotations

from typing import Any


def point_in_polygon(x: float, y: float, polygon: list[list[float]]) -> bool:
    """Ray casting; points on an edge count as inside only by floating-point luck."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def bottom_centre(x: int, y: int, width: int, height: int, frame_width: int, frame_height: int) -> tuple[float, float]:
    """The box's bottom-centre in 0-1 frame coordinates."""
    return (x + width / 2) / frame_width, (y + height) / frame_height


def valid_polygon(polygon: Any) -> bool:
    return (
        isinstance(polygon, list)
        and len(polygon) >= 3
        and all(
            isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, int | float) and 0 <= v <= 1 for v in p)
            for p in polygon
        )
    )

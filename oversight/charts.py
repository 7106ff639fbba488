"""Bar and line charts drawn on the server as SVG, from the numbers a table shows too.

The geometry is worked out here and written out by ``oversight/_chart.html``: no
JavaScript, nothing to download, and the chart is an image with a title and a
description for screen readers (role="img"), the same numbers in a table beneath it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 240
LEFT = 48  # room for the axis labels
BOTTOM = 40
TOP = 16
RIGHT = 8


@dataclass
class Point:
    label: str
    value: float | None
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0
    text_x: float = 0
    text_y: float = 0


@dataclass
class Chart:
    id: str
    title: str
    description: str
    kind: str  # "bar" or "line"
    unit: str
    points: list[Point]
    ticks: list[tuple[float, str]] = field(default_factory=list)
    polyline: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM
    plot_right: int = WIDTH - RIGHT

    @property
    def summary(self) -> str:
        """The description plus every value, for the SVG's <desc>."""
        values = "; ".join(f"{p.label}: {_format(p.value, self.unit)}" for p in self.points)
        return f"{self.description} {values}."


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    number = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{number}{unit}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4
    magnitude = 10 ** (len(str(int(value))) - 1)
    return (int(value / magnitude) + 1) * magnitude


def build_chart(
    *,
    id: str,
    title: str,
    description: str,
    points: list[tuple[str, float | None]],
    kind: str = "bar",
    unit: str = "",
    maximum: float | None = None,
) -> Chart:
    """``points`` are (label, value); None is drawn as a gap, never as zero.

    "bar" and "line" put the labels along the bottom (months); "hbar" puts long labels
    (push and pull factors) down the left with a bar each.
    """
    if kind == "hbar":
        return _horizontal(id=id, title=title, description=description, points=points, unit=unit)
    top_value = maximum or _nice_max(max((v or 0 for _, v in points), default=0))
    plot_height = HEIGHT - BOTTOM - TOP
    plot_width = WIDTH - LEFT - RIGHT
    slot = plot_width / max(len(points), 1)
    chart = Chart(id=id, title=title, description=description, kind=kind, unit=unit, points=[])
    for index, (label, value) in enumerate(points):
        height = 0 if value is None else plot_height * min(value, top_value) / top_value
        x = LEFT + index * slot
        chart.points.append(
            Point(
                label=label,
                value=value,
                x=round(x + slot * 0.15, 1),
                width=round(slot * 0.7, 1),
                y=round(TOP + plot_height - height, 1),
                height=round(height, 1),
                text_x=round(x + slot / 2, 1),
                text_y=HEIGHT - BOTTOM + 16,
            )
        )
    chart.ticks = [
        (round(TOP + plot_height - plot_height * i / 4, 1), _format(top_value * i / 4, unit))
        for i in range(5)
    ]
    if kind == "line":
        chart.polyline = " ".join(f"{p.text_x},{p.y}" for p in chart.points if p.value is not None)
    return chart


HBAR_LEFT = 300
HBAR_ROW = 28


def _horizontal(
    *, id: str, title: str, description: str, points: list[tuple[str, float | None]], unit: str
) -> Chart:
    top_value = _nice_max(max((v or 0 for _, v in points), default=0))
    plot_width = WIDTH - HBAR_LEFT - RIGHT - 40  # room for the value after the bar
    height = TOP + HBAR_ROW * max(len(points), 1) + 8
    chart = Chart(
        id=id,
        title=title,
        description=description,
        kind="hbar",
        unit=unit,
        points=[],
        height=height,
        left=HBAR_LEFT,
        plot_bottom=height - 8,
    )
    for index, (label, value) in enumerate(points):
        y = TOP + index * HBAR_ROW
        width = 0 if value is None else plot_width * min(value, top_value) / top_value
        chart.points.append(
            Point(
                label=label,
                value=value,
                x=HBAR_LEFT,
                y=y,
                width=round(width, 1),
                height=round(HBAR_ROW * 0.7, 1),
                text_x=round(HBAR_LEFT + width + 6, 1),
                text_y=round(y + HBAR_ROW * 0.5, 1),
            )
        )
    return chart

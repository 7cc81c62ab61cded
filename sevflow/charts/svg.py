"""Line and bar charts rendered as inline SVG text, for the server-rendered dashboard.

Pure: values and labels in, one `<svg>` element out. Every piece of text (titles, labels, series names,
tooltips) is XML-escaped here, because a label can come from a person (a service or team name) and the
caller embeds the result unescaped. The SVG scales with its container (a viewBox, no fixed pixel width),
so the same chart fits a phone and a wall screen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

Formatter = Callable[[float], str]

# The dashboard's palette: readable on white, distinct for the common kinds of colour blindness.
PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed")
_COLOR = re.compile(r"^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$")


def _esc(text: str) -> str:
    return escape(text, quote=True)


def number_label(value: float) -> str:
    """A whole number without decimals, anything else with one."""
    if math.isclose(value, round(value), abs_tol=1e-9):
        return str(round(value))
    return f"{value:.1f}"


def nice_ticks(max_value: float, count: int = 4) -> list[float]:
    """Axis ticks from 0 to at least `max_value` in steps of 1, 2, 2.5 or 5 times a power of ten.

    `count` is the number of steps wanted; the answer has about that many (never fewer than one)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not math.isfinite(max_value) or max_value <= 0:
        return [0.0, 1.0]
    raw = max_value / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-12))
    steps = math.ceil(max_value / step - 1e-9)
    # Rounded so 0.1 * 3 prints as 0.3, not 0.30000000000000004.
    return [round(i * step, 10) for i in range(max(steps, 1) + 1)]


def duration_unit(max_seconds: float) -> tuple[float, str]:
    """(divisor, unit name) that makes durations up to `max_seconds` read well on an axis."""
    if max_seconds < 120:
        return 1.0, "s"
    if max_seconds < 2 * 3600:
        return 60.0, "min"
    if max_seconds < 2 * 86400:
        return 3600.0, "h"
    return 86400.0, "d"


@dataclass(frozen=True)
class Series:
    """One line: a value per label (None where there is no data: the line has a gap there)."""

    name: str
    values: Sequence[float | None]
    color: str = PALETTE[0]

    def __post_init__(self) -> None:
        # The colour goes into an attribute as is: only a hex colour may reach it.
        if not _COLOR.match(self.color):
            raise ValueError(f"colour must be #rgb or #rrggbb, not {self.color!r}")
        for value in self.values:
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"chart values must be finite and not negative, not {value!r}")


@dataclass(frozen=True)
class _Frame:
    """The drawing area: the SVG's size and the margins the axes and title take."""

    width: int
    height: int
    left: int = 44
    right: int = 24  # room for half of the newest x label, centred on the last point
    top: int = 30
    bottom: int = 30

    @property
    def plot_width(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_height(self) -> float:
        return float(self.height - self.top - self.bottom)

    def y(self, value: float, top_tick: float) -> float:
        return self.top + self.plot_height * (1 - value / top_tick)


def _open(frame: _Frame, title: str, css_class: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{_esc(css_class)}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" aria-label="{_esc(title)}" '
        'preserveAspectRatio="xMidYMid meet" font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{_esc(title)}</title>",
        f'<text x="{frame.left}" y="16" font-size="13" font-weight="600" fill="#111827">{_esc(title)}</text>',
    ]


def _y_axis(frame: _Frame, ticks: Sequence[float], fmt: Formatter) -> list[str]:
    parts = []
    for tick in ticks:
        y = frame.y(tick, ticks[-1])
        parts.append(
            f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.width - frame.right}" y2="{y:.1f}" '
            'stroke="#e5e7eb" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#6b7280">'
            f"{_esc(fmt(tick))}</text>"
        )
    return parts


def _x_labels(frame: _Frame, labels: Sequence[str], xs: Sequence[float]) -> list[str]:
    # At most about 7 labels fit under a phone-width chart; the rest are in the tooltips.
    every = max(1, math.ceil(len(labels) / 7))
    return [
        f'<text x="{x:.1f}" y="{frame.height - 10}" text-anchor="middle" fill="#6b7280">{_esc(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, xs, strict=True))
        if (len(labels) - 1 - i) % every == 0  # always label the newest (rightmost) point
    ]


def _empty(frame: _Frame, parts: list[str]) -> str:
    parts.append(
        f'<text x="{frame.width / 2:.1f}" y="{frame.top + frame.plot_height / 2:.1f}" '
        'text-anchor="middle" fill="#6b7280">no data</text></svg>'
    )
    return "".join(parts)


@dataclass(frozen=True)
class LineChart:
    """Lines over shared x labels (weeks, days), with a legend when there is more than one."""

    title: str
    labels: Sequence[str]
    series: Sequence[Series]
    value_format: Formatter = number_label
    width: int = 640
    height: int = 220
    css_class: str = "chart"

    def __post_init__(self) -> None:
        for s in self.series:
            if len(s.values) != len(self.labels):
                raise ValueError(
                    f"series {s.name!r} has {len(s.values)} values for {len(self.labels)} labels"
                )

    @property
    def _frame(self) -> _Frame:
        return _Frame(self.width, self.height)

    def render(self) -> str:
        frame = self._frame
        parts = _open(frame, self.title, self.css_class)
        known = [v for s in self.series for v in s.values if v is not None]
        if not self.labels or not known:
            return _empty(frame, parts)
        ticks = nice_ticks(max(known))
        n = len(self.labels)
        step = frame.plot_width / (n - 1) if n > 1 else 0.0
        xs = [frame.left + (i * step if n > 1 else frame.plot_width / 2) for i in range(n)]
        parts += _y_axis(frame, ticks, self.value_format)
        parts += _x_labels(frame, self.labels, xs)
        for s in self.series:
            parts += self._line(s, xs, ticks[-1])
        if len(self.series) > 1:
            parts += self._legend()
        parts.append("</svg>")
        return "".join(parts)

    def _line(self, s: Series, xs: Sequence[float], top_tick: float) -> list[str]:
        frame = self._frame
        parts: list[str] = []
        segment: list[str] = []
        # A missing value breaks the line rather than drawing it through zero.
        for value, x in [*zip(s.values, xs, strict=True), (None, 0.0)]:
            if value is None:
                if len(segment) > 1:
                    parts.append(
                        f'<polyline fill="none" stroke="{s.color}" stroke-width="2.5" '
                        f'stroke-linejoin="round" points="{" ".join(segment)}"/>'
                    )
                segment = []
                continue
            segment.append(f"{x:.1f},{frame.y(value, top_tick):.1f}")
        for label, value, x in zip(self.labels, s.values, xs, strict=True):
            if value is None:
                continue
            parts.append(
                f'<circle cx="{x:.1f}" cy="{frame.y(value, top_tick):.1f}" r="3.5" fill="{s.color}">'
                f"<title>{_esc(f'{s.name}, {label}: {self.value_format(value)}')}</title></circle>"
            )
        return parts

    def _legend(self) -> list[str]:
        parts = []
        x = float(self.width - self._frame.right)
        # Right-aligned, newest series last: laid out from the right edge leftwards.
        for s in reversed(self.series):
            text_width = 6.5 * len(s.name)
            x -= text_width
            parts.append(f'<text x="{x:.1f}" y="16" fill="#374151">{_esc(s.name)}</text>')
            x -= 14
            parts.append(f'<rect x="{x:.1f}" y="7" width="10" height="10" rx="2" fill="{s.color}"/>')
            x -= 12
        return parts


@dataclass(frozen=True)
class BarChart:
    """One bar per label (incidents per week, per service)."""

    title: str
    labels: Sequence[str]
    values: Sequence[float | None]
    color: str = PALETTE[0]
    value_format: Formatter = number_label
    width: int = 640
    height: int = 220
    css_class: str = "chart"

    def __post_init__(self) -> None:
        if len(self.values) != len(self.labels):
            raise ValueError(f"{len(self.values)} values for {len(self.labels)} labels")
        Series(self.title, self.values, self.color)  # the same checks as a line's

    def render(self) -> str:
        frame = _Frame(self.width, self.height)
        parts = _open(frame, self.title, self.css_class)
        known = [v for v in self.values if v is not None]
        if not self.labels or not known:
            return _empty(frame, parts)
        ticks = nice_ticks(max(known))
        band = frame.plot_width / len(self.labels)
        bar = band * 0.7
        xs = [frame.left + band * (i + 0.5) for i in range(len(self.labels))]
        parts += _y_axis(frame, ticks, self.value_format)
        parts += _x_labels(frame, self.labels, xs)
        for label, value, x in zip(self.labels, self.values, xs, strict=True):
            if value is None:
                continue
            y = frame.y(value, ticks[-1])
            height = frame.top + frame.plot_height - y
            parts.append(
                f'<rect x="{x - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'rx="2" fill="{self.color}">'
                f"<title>{_esc(f'{label}: {self.value_format(value)}')}</title></rect>"
            )
        parts.append("</svg>")
        return "".join(parts)

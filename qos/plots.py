"""Plots of an RSE's probes, drawn on the server as inline SVG: no chart library, nothing from a CDN, no script.

Two charts: write and read throughput (MB/s) against the class's throughput target, and latency (s) against an
online class's promise of a read at once. Raw probes are points joined by lines; older days (daily means, see
``ProbeDay``) are drawn the same way. Colours and fonts come from the page's stylesheet (``.plot`` classes),
so the SVG carries no inline style (the CSP allows none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .choices import AccessLatency

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True)
class Series:
    """One line of a chart: its name (the legend), a CSS class (its colour), its points (time, value)."""

    name: str
    css_class: str
    points: Sequence[tuple[datetime, float]]


def _ticks(top: float) -> list[float]:
    """Four round values from 0 to about ``top``."""
    if top <= 0:
        return [0.0]
    magnitude = 10 ** len(str(int(top))) / 10 if top >= 1 else 0.1
    step = next(s * magnitude for s in (0.25, 0.5, 1, 2, 2.5, 5, 10) if top / (s * magnitude) <= 4)
    return [step * n for n in range(int(top / step) + 2)]


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def line_chart(
    title: str, unit: str, series: Sequence[Series], *, target: float | None = None, target_label: str = ""
) -> SafeString:
    """An SVG chart of ``series`` over time, with a dashed line at ``target`` (if any), in ``unit``."""
    values = [value for line in series for _, value in line.points]
    times = [when for line in series for when, _ in line.points]
    if not values:
        return format_html('<p class="muted">{}: no probe to plot yet.</p>', title)
    ticks = _ticks(max([*values, target or 0]) * 1.1)
    top = ticks[-1]
    start, end = min(times), max(times)
    span = (end - start).total_seconds() or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    # Coordinates as text: format_html escapes its arguments first, which leaves no number to format.
    def x(when: datetime) -> str:
        return f"{LEFT + plot_w * ((when - start).total_seconds() / span if end > start else 0.5):.1f}"

    def y(value: float, shift: float = 0) -> str:
        return f"{TOP + plot_h * (1 - value / top) + shift:.1f}"

    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
        ((LEFT, WIDTH - RIGHT, y(t), y(t), LEFT - 4, y(t, 4), _number(t)) for t in ticks),
    )
    target_line = (
        format_html(
            '<line class="target" x1="{}" x2="{}" y1="{}" y2="{}"><title>{}</title></line>'
            '<text class="target-label" x="{}" y="{}" text-anchor="end">{}</text>',
            LEFT,
            WIDTH - RIGHT,
            y(target),
            y(target),
            target_label,
            WIDTH - RIGHT,
            y(target, -4),
            target_label,
        )
        if target
        else ""
    )
    lines = format_html_join(
        "",
        '<g class="series {}"><polyline points="{}"/>{}</g>',
        (
            (
                line.css_class,
                " ".join(f"{x(when)},{y(value)}" for when, value in line.points),
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="2.5"><title>{} {}: {} {}</title></circle>',
                    (
                        (x(when), y(value), line.name, f"{when:%Y-%m-%d %H:%M}", _number(value), unit)
                        for when, value in line.points
                    ),
                ),
            )
            for line in series
        ),
    )
    legend = format_html_join(
        " ", '<span class="legend {}">{}</span>', ((line.css_class, line.name) for line in series)
    )
    return format_html(
        '<figure class="plot"><figcaption>{} <span class="muted">({}; {} to {})</span> {}</figcaption>'
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}{}{}'
        '<text class="axis" x="{}" y="{}">{}</text><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
        "</svg></figure>",
        title,
        unit,
        f"{start:%Y-%m-%d %H:%M}",
        f"{end:%Y-%m-%d %H:%M}",
        legend,
        WIDTH,
        HEIGHT,
        f"{title} over time, in {unit}",
        title,
        grid,
        target_line,
        lines,
        LEFT,
        HEIGHT - 8,
        f"{start:%d %b %H:%M}",
        WIDTH - RIGHT,
        HEIGHT - 8,
        f"{end:%d %b %H:%M}",
    )


def probe_charts(rse: Any, probes: Sequence[Any], days: Sequence[Any]) -> list[SafeString]:
    """The RSE page's charts from its probes (newest first, as stored) and older daily means."""
    points = sorted(
        [(day_start(day.day), day) for day in days]
        + [(probe.started_at, probe) for probe in probes if probe.ok],
        key=lambda pair: pair[0],
    )

    def line(name: str, css_class: str, field: str) -> Series:
        return Series(
            name,
            css_class,
            [(when, getattr(row, field)) for when, row in points if getattr(row, field) is not None],
        )

    qos_class = rse.qos_class if rse.qos_class_id else None
    label = qos_class.label if qos_class else ""
    throughput_target = qos_class.throughput_mbps if qos_class else None
    online = qos_class is not None and qos_class.access_latency == AccessLatency.ONLINE
    latency_target = settings.QOS_PROBE_ONLINE_LATENCY_SECONDS if online else None
    return [
        line_chart(
            "Throughput",
            "MB/s",
            [line("write", "write", "write_mbps"), line("read", "read", "read_mbps")],
            target=throughput_target,
            target_label=f"{label} promises {throughput_target:,} MB/s" if throughput_target else "",
        ),
        line_chart(
            "Latency",
            "s",
            [line("read of the small file", "latency", "latency_seconds")],
            target=latency_target,
            target_label=f"{label} is online: within {latency_target} s" if latency_target else "",
        ),
    ]


def day_start(day: Any) -> datetime:
    """Noon UTC of a date: where a day's mean is drawn."""
    return datetime.combine(day, time(12), tzinfo=UTC)

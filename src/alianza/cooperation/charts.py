"""Indicator trend charts as inline SVG.

Server-rendered SVG needs no JavaScript and no network, prints in the PDF report exactly as on screen, and is
readable by screen readers through its <title> and <desc>.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from alianza.cooperation.models import Observation


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def trend_svg(
    observations: Sequence[Observation],
    *,
    title: str,
    unit: str,
    width: int = 320,
    height: int = 120,
    target: float | None = None,
) -> str:
    """A line chart of the observations with first/last labels; empty series get an explicit 'no data' box."""
    pad_l, pad_r, pad_t, pad_b = 8, 8, 16, 22
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart"><title>{escape(title)}</title>'
    )
    if not observations:
        return head + f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f4f4f4"/></svg>'
    values = [o.value for o in observations]
    lows = [*values, target] if target is not None else values
    lo, hi = min(lows), max(lows)
    span = (hi - lo) or (abs(hi) or 1.0)
    n = len(observations)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad_l + (w * i / (n - 1) if n > 1 else w / 2)
        y = pad_t + h - (v - lo) / span * h
        return round(x, 1), round(y, 1)

    points = [xy(i, v) for i, v in enumerate(values)]
    desc = "; ".join(f"{o.date.isoformat()}: {_fmt(o.value)} {unit}" for o in observations)
    parts = [head, f"<desc>{escape(desc)}</desc>"]
    parts.append(f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#999"/>')
    if target is not None:
        ty = xy(0, target)[1]
        parts.append(
            f'<line x1="{pad_l}" y1="{ty}" x2="{pad_l + w}" y2="{ty}" stroke="#2e7d32" stroke-dasharray="4 3"/>'
        )
    path = " ".join(f"{x},{y}" for x, y in points)
    parts.append(f'<polyline fill="none" stroke="#1f4e79" stroke-width="2" points="{path}"/>')
    for (x, y), o in zip(points, observations, strict=True):
        parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{"#b26a00" if o.illustrative else "#1f4e79"}"/>')
    first, last = observations[0], observations[-1]
    parts.append(f'<text x="{pad_l}" y="{height - 6}" font-size="10">{first.date.isoformat()}</text>')
    parts.append(
        f'<text x="{pad_l + w}" y="{height - 6}" font-size="10" text-anchor="end">{last.date.isoformat()}</text>'
    )
    parts.append(
        f'<text x="{points[-1][0]}" y="{max(points[-1][1] - 5, 10)}" font-size="10" text-anchor="end">'
        f"{escape(_fmt(last.value))}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)

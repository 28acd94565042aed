"""A station's last months as an inline SVG bar chart: no script, no library, no inline CSS
(presentation attributes only, which the page's CSP allows)."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 360, 120, 18


def month_bars(months: list[str], received: list[int], closed: list[int]) -> str:
    """Received (light) and closed in time (dark) per month, the newest on the right."""
    top = max(received + closed + [1])
    slot = (WIDTH - 2 * PAD) / max(len(months), 1)
    bar = slot * 0.7
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 20}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="received and closed in time, '
             f'by month">']
    parts.append(f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" '
                 f'stroke="#d5dbe3"/>')
    parts.append(f'<text x="{PAD}" y="10" font-size="9" fill="#5f6b78">{top}</text>')
    for i, (month, r, c) in enumerate(zip(months, received, closed, strict=True)):
        x = PAD + i * slot + (slot - bar) / 2
        for value, colour, kind in ((r, "#9fb3c8", "received"), (c, "#1d3557", "closed in time")):
            h = (HEIGHT - 14) * value / top
            parts.append(f'<rect x="{x:.1f}" y="{HEIGHT - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(month)}: {value} '
                         f'{kind}</title></rect>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT + 12}" font-size="8" '
                     f'text-anchor="middle" fill="#5f6b78">{escape(month[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)

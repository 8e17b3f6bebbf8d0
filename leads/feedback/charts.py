"""The dashboard's charts as inline SVG, drawn here: no script, no CDN, scales to a phone."""

from collections import Counter
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from leads.feedback.dashboard import Dashboard, minutes_text

WIDTH = 560
LABEL_WIDTH = 140
BAR = 16
GAP = 10
COLOURS = {"spend": "#d9534f", "revenue": "#2e7d32", "funnel": "#1e88e5", "speed": "#6d4c9f"}
FUNNEL = (("leads", "Leads"), ("contacted", "Contacted"), ("appointments", "Appt."),
          ("sales", "Sales"))  # fmt: skip
# Coarser bands than the rollups' buckets, in minutes: what a speed-to-lead chart reads as.
SPEED_BANDS = ((0, "< 1 min"), (1, "1\u20135 min"), (5, "5\u201315 min"), (15, "15\u201330 min"),
               (30, "30\u201360 min"), (60, "1\u20134 h"), (240, "4\u201324 h"),
               (1440, "1 d or more"))  # fmt: skip


def _svg(height: int, body: list[str], title: str) -> SafeString:
    return mark_safe(  # every text in body is escaped where it is made
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="14">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _text(x, y, text, anchor="start", weight="normal") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-weight="{weight}" '
        f'fill="currentColor">{escape(text)}</text>'
    )


def _bar(x, y, width, colour) -> str:
    width = max(width, 0)
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{BAR}" fill="{colour}"/>'


def _empty(title: str) -> SafeString:
    return _svg(40, [_text(WIDTH / 2, 24, "No leads in this period.", "middle")], title)


def spend_revenue_chart(dashboard: Dashboard) -> SafeString:
    """Net cost beside revenue, per source that was bought from."""
    title = "Net cost and revenue by source"
    rows = [row for row in dashboard.sources.rows if row.figures.purchased and not row.total]
    if not rows:
        return _empty(title)
    top = max(
        [row.figures.net_cost or Decimal(0) for row in rows] + [r.figures.revenue for r in rows]
    )
    scale = (WIDTH - LABEL_WIDTH - 90) / float(top or 1)
    body = [
        _bar(LABEL_WIDTH, 6, 10, COLOURS["spend"]).replace(f'height="{BAR}"', 'height="10"'),
        _text(LABEL_WIDTH + 14, 15, "net cost"),
        _bar(LABEL_WIDTH + 80, 6, 10, COLOURS["revenue"]).replace(f'height="{BAR}"', 'height="10"'),
        _text(LABEL_WIDTH + 94, 15, "revenue"),
    ]
    y = 28
    for row in rows:
        net = max(row.figures.net_cost or Decimal(0), Decimal(0))
        body.append(_text(LABEL_WIDTH - 8, y + BAR + 3, row.label[0][:18], "end"))
        body.append(_bar(LABEL_WIDTH, y, float(net) * scale, COLOURS["spend"]))
        body.append(_text(LABEL_WIDTH + float(net) * scale + 4, y + 13, f"${net:,.0f}"))
        y += BAR
        revenue = row.figures.revenue
        body.append(_bar(LABEL_WIDTH, y, float(revenue) * scale, COLOURS["revenue"]))
        body.append(_text(LABEL_WIDTH + float(revenue) * scale + 4, y + 13, f"${revenue:,.0f}"))
        y += BAR + GAP
    return _svg(y, body, title)


def funnel_chart(dashboard: Dashboard) -> SafeString:
    """Each source's leads, contacted, appointments and sales, as shares of its leads."""
    title = "Funnel by source"
    rows = [row for row in dashboard.sources.rows if not row.total and row.figures.leads]
    if not rows:
        return _empty(title)
    scale = WIDTH - LABEL_WIDTH - 130
    body, y = [], 4
    for row in rows:
        body.append(_text(0, y + 14, row.label[0][:40], weight="bold"))
        y += 20
        for name, heading in FUNNEL:
            count = getattr(row.figures, name)
            share = count / row.figures.leads
            body.append(_text(LABEL_WIDTH - 8, y + 13, heading, "end"))
            body.append(_bar(LABEL_WIDTH, y, share * scale, COLOURS["funnel"]))
            body.append(_text(LABEL_WIDTH + share * scale + 4, y + 13, f"{count:,} ({share:.0%})"))
            y += BAR + 4
        y += GAP
    return _svg(y, body, title)


def speed_chart(dashboard: Dashboard) -> SafeString:
    """How long purchased leads waited for their first call: leads per band."""
    title = "Time to first attempt"
    bands: Counter = Counter()
    starts = [start for start, _ in SPEED_BANDS]
    for minutes, count in dashboard.total.first_attempt.items():
        band = max(start for start in starts if start <= minutes)
        bands[band] += count
    total = sum(bands.values())
    if not total:
        return _empty(title)
    scale = (WIDTH - LABEL_WIDTH - 110) / max(bands.values())
    body, y = [], 4
    for start, heading in SPEED_BANDS:
        count = bands[start]
        body.append(_text(LABEL_WIDTH - 8, y + 13, heading, "end"))
        body.append(_bar(LABEL_WIDTH, y, count * scale, COLOURS["speed"]))
        body.append(
            _text(LABEL_WIDTH + count * scale + 4, y + 13, f"{count:,} ({count / total:.0%})")
        )
        y += BAR + 6
    median = dashboard.total.median_first_attempt
    if median is not None:
        body.append(_text(0, y + 14, f"Median: {minutes_text(median[0])} or a little more"))
        y += 20
    return _svg(y, body, title)

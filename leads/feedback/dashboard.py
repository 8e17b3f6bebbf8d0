"""The managers' dashboard: a period's figures per source, campaign and rep, from rollups only.

Every figure is a sum of SourceDayRollup or RepDayRollup rows (a month is a few hundred rows
whatever the leads and attempts behind them); rates are over the leads bought, medians come
from the summed per-day histograms, and a figure with nothing to divide by is None ("—").
Leads entered by hand were bought from nobody: they stay out of every money figure.
"""

import bisect
import calendar
import datetime
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Min, Sum
from django.utils import timezone

from leads.models import LeadSource, RepDayRollup, SourceDayRollup
from leads.models.rollup import TIMING_BUCKETS
from leads.sources import MANUAL_SOURCE_SLUG

UTC = datetime.UTC
PERMISSION = "leads.view_sourcedayrollup"  # the rollups' view permission: managers
PERIODS = ("day", "week", "month", "custom")
MAX_CUSTOM_DAYS = 400
ZERO = Decimal("0")
COUNTS = ("leads", "duplicates", "returns", "attempted", "contacted", "appointments", "sales")
MONEY = ("spend", "credits", "revenue")


@dataclass(frozen=True)
class Period:
    kind: str
    first: datetime.date
    last: datetime.date

    @property
    def label(self) -> str:
        if self.first == self.last:
            return f"{self.first:%a %b %-d, %Y}"
        return f"{self.first:%b %-d, %Y} \u2013 {self.last:%b %-d, %Y}"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def _date(value: str | None) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        return None


def period_from(params, *, today: datetime.date | None = None) -> tuple[Period, list[str]]:
    """Read the period a manager picked (period=day|week|month|custom, date=, since=, until=)
    and return it with the problems found (then today is shown)."""
    today = today or timezone.now().astimezone(UTC).date()
    kind = params.get("period") or "day"
    problems = []
    if kind not in PERIODS:
        problems.append(f"period: choose one of {', '.join(PERIODS)}.")
        kind = "day"
    anchor = _date(params.get("date")) if params.get("date") else today
    if anchor is None:
        problems.append("date: give a date as YYYY-MM-DD.")
        anchor = today
    if kind == "day":
        return Period(kind, anchor, anchor), problems
    if kind == "week":
        monday = anchor - datetime.timedelta(days=anchor.weekday())
        return Period(kind, monday, monday + datetime.timedelta(days=6)), problems
    if kind == "month":
        last = calendar.monthrange(anchor.year, anchor.month)[1]
        return Period(kind, anchor.replace(day=1), anchor.replace(day=last)), problems
    first, last = _date(params.get("since")), _date(params.get("until"))
    if first is None or last is None:
        problems.append("since, until: give both dates as YYYY-MM-DD.")
    elif last < first:
        problems.append("until: must not be before since.")
    elif (last - first).days >= MAX_CUSTOM_DAYS:
        problems.append(f"until: a custom range is at most {MAX_CUSTOM_DAYS} days.")
    else:
        return Period(kind, first, last), problems
    return Period("day", today, today), problems


def _median_bucket(histogram: Counter) -> tuple[int, int | None] | None:
    """The (lower, upper) minutes of the bucket holding the median lead, or None."""
    total = sum(histogram.values())
    if not total:
        return None
    middle = (total + 1) // 2
    seen = 0
    for lower in sorted(histogram):
        seen += histogram[lower]
        if seen >= middle:
            position = bisect.bisect_right(TIMING_BUCKETS, lower)
            upper = TIMING_BUCKETS[position] if position < len(TIMING_BUCKETS) else None
            return lower, upper
    return None


def minutes_text(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 1440:
        hours = minutes / 60
        return f"{hours:g} h" if hours == int(hours) else f"{hours:.1f} h"
    return f"{minutes / 1440:g} d"


def bucket_text(bucket: tuple[int, int | None] | None) -> str:
    if bucket is None:
        return "—"
    lower, upper = bucket
    if upper is None:
        return f"over {minutes_text(lower)}"
    if upper < 60:
        return f"{lower}\u2013{upper} min"
    return f"{minutes_text(lower)}\u2013{minutes_text(upper)}"


def _ratio(part, whole) -> Decimal | None:
    if not whole:
        return None
    return Decimal(part) / Decimal(whole)


@dataclass
class Figures:
    """A sum of rollup rows, and what is derived from it."""

    leads: int = 0
    duplicates: int = 0
    returns: int = 0
    attempted: int = 0
    contacted: int = 0
    appointments: int = 0
    sales: int = 0
    attempts: int = 0
    spend: Decimal = ZERO
    credits: Decimal = ZERO
    revenue: Decimal = ZERO
    purchased: bool = True  # False: entered by hand, no money figures
    first_attempt: Counter = field(default_factory=Counter)
    first_contact: Counter = field(default_factory=Counter)

    def add(self, row) -> None:
        for name in (*COUNTS, "attempts", *MONEY):
            value = getattr(row, name, None)
            if value is not None:
                setattr(self, name, getattr(self, name) + value)
        self.first_attempt.update(
            {int(k): v for k, v in (getattr(row, "first_attempt_minutes", None) or {}).items()}
        )
        self.first_contact.update(
            {int(k): v for k, v in (getattr(row, "first_contact_minutes", None) or {}).items()}
        )

    def merged(self, other: "Figures") -> "Figures":
        total = Figures(purchased=self.purchased and other.purchased)
        for figures in (self, other):
            for name in (*COUNTS, "attempts", *MONEY):
                setattr(total, name, getattr(total, name) + getattr(figures, name))
            total.first_attempt.update(figures.first_attempt)
            total.first_contact.update(figures.first_contact)
        return total

    @property
    def bought_spend(self) -> Decimal | None:
        return self.spend if self.purchased else None

    @property
    def bought_credits(self) -> Decimal | None:
        return self.credits if self.purchased else None

    @property
    def net_cost(self) -> Decimal | None:
        return self.spend - self.credits if self.purchased else None

    @property
    def contact_rate(self):
        return _ratio(self.contacted, self.leads)

    @property
    def appointment_rate(self):
        return _ratio(self.appointments, self.leads)

    @property
    def sale_rate(self):
        return _ratio(self.sales, self.leads)

    @property
    def attempts_per_lead(self):
        return _ratio(self.attempts, self.leads)

    @property
    def cost_per_sale(self) -> Decimal | None:
        if not self.purchased or not self.sales:
            return None
        return self.net_cost / self.sales

    @property
    def roas(self) -> Decimal | None:
        """Return on ad spend: revenue over net cost."""
        if not self.purchased or not self.net_cost:
            return None
        return self.revenue / self.net_cost

    @property
    def median_first_attempt(self):
        return _median_bucket(self.first_attempt)

    @property
    def median_first_contact(self):
        return _median_bucket(self.first_contact)


# (name, heading, kind) of each figure a table shows; kind says how it is written.
SOURCE_COLUMNS = (
    ("leads", "Leads", "count"),
    ("bought_spend", "Spend", "money"),
    ("duplicates", "Duplicates", "count"),
    ("returns", "Returns", "count"),
    ("bought_credits", "Credits", "money"),
    ("net_cost", "Net cost", "money"),
    ("contact_rate", "Contact rate", "rate"),
    ("appointment_rate", "Appointment rate", "rate"),
    ("sale_rate", "Sale rate", "rate"),
    ("median_first_attempt", "Median to first attempt", "bucket"),
    ("median_first_contact", "Median to first contact", "bucket"),
    ("revenue", "Revenue", "money"),
    ("cost_per_sale", "Cost per sale", "money"),
    ("roas", "ROAS", "ratio"),
)
REP_COLUMNS = (
    ("leads", "Leads", "count"),
    ("attempts_per_lead", "Attempts per lead", "ratio"),
    ("median_first_attempt", "Median to first attempt", "bucket"),
    ("contact_rate", "Contact rate", "rate"),
    ("sale_rate", "Sale rate", "rate"),
    ("revenue", "Revenue", "money"),
)
SIDE_BY_SIDE_COLUMNS = (
    ("leads", "Leads", "count"),
    ("net_cost", "Net cost", "money"),
    ("contact_rate", "Contact rate", "rate"),
    ("sale_rate", "Sale rate", "rate"),
    ("cost_per_sale", "Cost per sale", "money"),
    ("roas", "ROAS", "ratio"),
)


def shown(value, kind: str) -> str:
    """Write a figure for a person: "—" when there is nothing to show."""
    if value is None:
        return "—"
    if kind == "count":
        return f"{value:,}"
    if kind == "money":
        return f"${value:,.2f}" if value >= 0 else f"-${-value:,.2f}"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "ratio":
        return f"{value:.2f}"
    return bucket_text(value)


def raw(value, kind: str) -> str:
    """Write a figure for a CSV file: plain numbers, empty when there is nothing to show."""
    if value is None:
        return ""
    if kind == "money":
        return f"{value:.2f}"
    if kind in ("rate", "ratio"):
        return f"{value:.4f}"
    if kind == "bucket":
        lower, upper = value
        return f"{lower}-{upper}" if upper is not None else f"{lower}-"
    return str(value)


@dataclass
class Row:
    label: tuple[str, ...]
    figures: Figures
    total: bool = False


@dataclass
class Table:
    name: str  # also its ?csv= value
    title: str
    labels: tuple[str, ...]
    columns: tuple
    rows: list[Row]


@dataclass
class Dashboard:
    period: Period
    sources: Table
    campaigns: Table
    exclusivity: list[tuple[str, Figures, Figures]]
    reps: Table
    total: Figures
    as_of: datetime.datetime | None

    def table(self, name: str) -> Table | None:
        if name == "exclusivity":
            return exclusivity_table(self.exclusivity)
        return {"sources": self.sources, "campaigns": self.campaigns, "reps": self.reps}.get(name)


def _source_rows(period: Period):
    return SourceDayRollup.objects.filter(day__gte=period.first, day__lte=period.last).only(
        "source_id",
        "campaign",
        "is_exclusive",
        *COUNTS,
        *MONEY,
        "first_attempt_minutes",
        "first_contact_minutes",
    )


def dashboard_build(*, period: Period) -> Dashboard:
    """Read the period's rollups and sum them per source, campaign, exclusivity and rep."""
    names = dict(LeadSource.objects.values_list("pk", "name"))
    manual = set(LeadSource.objects.filter(slug=MANUAL_SOURCE_SLUG).values_list("pk", flat=True))
    by_source: dict[int, Figures] = {}
    by_campaign: dict[tuple[int, str], Figures] = {}
    by_exclusivity: dict[tuple[int, bool], Figures] = {}
    for row in _source_rows(period):
        purchased = row.source_id not in manual
        for table, key in (
            (by_source, row.source_id),
            (by_campaign, (row.source_id, row.campaign)),
            (by_exclusivity, (row.source_id, row.is_exclusive)),
        ):
            table.setdefault(key, Figures(purchased=purchased)).add(row)

    def order(source_id):
        return (source_id in manual, names.get(source_id, "").lower())

    total = Figures()
    for source_id, figures in by_source.items():
        if source_id not in manual:
            total = total.merged(figures)
    source_rows = [Row((names[pk],), by_source[pk]) for pk in sorted(by_source, key=order)]
    source_rows.append(Row(("All purchased leads",), total, total=True))
    campaign_rows = [
        Row((names[pk], campaign or "(none)"), by_campaign[(pk, campaign)])
        for pk, campaign in sorted(by_campaign, key=lambda key: (*order(key[0]), key[1]))
    ]
    exclusivity = [
        (
            names[pk],
            by_exclusivity.get((pk, True), Figures(purchased=pk not in manual)),
            by_exclusivity.get((pk, False), Figures(purchased=pk not in manual)),
        )
        for pk in sorted(by_source, key=order)
    ]
    as_of = SourceDayRollup.objects.filter(day__gte=period.first, day__lte=period.last).aggregate(
        oldest=Min("computed_at")
    )["oldest"]
    return Dashboard(
        period=period,
        sources=Table("sources", "By source", ("Source",), SOURCE_COLUMNS, source_rows),
        campaigns=Table(
            "campaigns", "By campaign", ("Source", "Campaign"), SOURCE_COLUMNS, campaign_rows
        ),
        exclusivity=exclusivity,
        reps=Table("reps", "By rep", ("Rep",), REP_COLUMNS, _rep_rows(period)),
        total=total,
        as_of=as_of,
    )


def _rep_rows(period: Period) -> list[Row]:
    by_rep: dict[int, Figures] = {}
    names: dict[int, str] = {}
    rows = RepDayRollup.objects.filter(day__gte=period.first, day__lte=period.last)
    for row in rows.select_related("rep").only(
        "rep__username", "rep__first_name", "rep__last_name", *REP_FIELDS_READ
    ):
        by_rep.setdefault(row.rep_id, Figures(purchased=False)).add(row)
        names[row.rep_id] = row.rep.get_full_name() or row.rep.get_username()
    ordered = sorted(by_rep, key=lambda rep_id: names[rep_id].lower())
    return [Row((names[rep_id],), by_rep[rep_id]) for rep_id in ordered]


REP_FIELDS_READ = (
    "rep_id",
    "leads",
    "attempts",
    "attempted",
    "contacted",
    "sales",
    "revenue",
    "first_attempt_minutes",
)


def exclusivity_table(pairs: list[tuple[str, Figures, Figures]]) -> Table:
    """The exclusive and shared figures of each source as one table (for its CSV file)."""
    columns = tuple(
        (f"{name}|{side}", f"{heading} ({side})", kind)
        for name, heading, kind in SIDE_BY_SIDE_COLUMNS
        for side in ("exclusive", "shared")
    )
    return Table(
        "exclusivity",
        "Exclusive and shared",
        ("Source",),
        columns,
        [Row((name,), _SideBySide(exclusive, shared)) for name, exclusive, shared in pairs],
    )


class _SideBySide:
    def __init__(self, exclusive: Figures, shared: Figures):
        self.sides = {"exclusive": exclusive, "shared": shared}

    def __getattr__(self, name):
        figure, _, side = name.partition("|")
        if not side:
            raise AttributeError(name)
        return getattr(self.sides[side], figure)


def table_cells(table: Table, row: Row, *, for_csv: bool = False) -> list[str]:
    write = raw if for_csv else shown
    return [
        *row.label,
        *(write(getattr(row.figures, name), kind) for name, _, kind in table.columns),
    ]


def today_figures(*, today: datetime.date | None = None) -> dict:
    """Today's key figures of purchased leads, for the admin's home page."""
    today = today or timezone.now().astimezone(UTC).date()
    manual = LeadSource.objects.filter(slug=MANUAL_SOURCE_SLUG).values_list("pk", flat=True)
    sums = (
        SourceDayRollup.objects.filter(day=today)
        .exclude(source_id__in=manual)
        .aggregate(
            leads=Sum("leads"),
            spend=Sum("spend"),
            credits=Sum("credits"),
            contacted=Sum("contacted"),
            sales=Sum("sales"),
            revenue=Sum("revenue"),
            as_of=Min("computed_at"),
        )
    )
    figures = Figures(
        leads=sums["leads"] or 0,
        spend=sums["spend"] or ZERO,
        credits=sums["credits"] or ZERO,
        contacted=sums["contacted"] or 0,
        sales=sums["sales"] or 0,
        revenue=sums["revenue"] or ZERO,
    )
    return {
        "day": today,
        "as_of": sums["as_of"],
        "cards": [
            ("Leads", shown(figures.leads, "count")),
            ("Spend", shown(figures.spend, "money")),
            ("Contacted", shown(figures.contacted, "count")),
            ("Sales", shown(figures.sales, "count")),
            ("Revenue", shown(figures.revenue, "money")),
            ("Cost per sale", shown(figures.cost_per_sale, "money")),
        ],
    }


def viewer_zone(user) -> zoneinfo.ZoneInfo:
    """The zone a person reads times in: their rep profile's, else the admin's TIME_ZONE."""
    profile = getattr(user, "rep_profile", None)
    name = getattr(profile, "time_zone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def as_of_text(moment: datetime.datetime | None, user) -> str:
    """\"figures as of 14:05 UTC (09:05 EST, your zone America/New_York)\"."""
    if moment is None:
        return "No figures have been computed for this period yet."
    zone = viewer_zone(user)
    utc = moment.astimezone(UTC)
    local = moment.astimezone(zone)
    return f"Figures as of {utc:%b %-d %H:%M} UTC ({local:%b %-d %H:%M %Z}, your zone {zone.key})."

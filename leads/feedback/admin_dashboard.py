"""The managers' dashboard in the admin (/admin/dashboard/): a period's figures, its charts,
CSV files of every table, and a rebuild of the figures as an RQ job."""

import csv
import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from leads.feedback import charts
from leads.feedback.dashboard import (
    MAX_CUSTOM_DAYS,
    PERMISSION,
    SIDE_BY_SIDE_COLUMNS,
    as_of_text,
    dashboard_build,
    period_from,
    shown,
    table_cells,
)
from leads.feedback.rollups import rollups_rebuild_enqueue

UTC = datetime.UTC


def _require_manager(request) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("The dashboard is for managers.")


def _period_params(period) -> dict[str, str]:
    if period.kind == "custom":
        return {
            "period": "custom",
            "since": period.first.isoformat(),
            "until": period.last.isoformat(),
        }
    return {"period": period.kind, "date": period.first.isoformat()}


def _step(period, direction: int) -> dict[str, str]:
    """The period before (-1) or after (+1) this one, as query parameters."""
    if period.kind == "month":
        anchor = period.first - datetime.timedelta(days=1) if direction < 0 else period.last
        anchor += datetime.timedelta(days=1) if direction > 0 else datetime.timedelta(0)
        return {"period": "month", "date": anchor.replace(day=1).isoformat()}
    length = datetime.timedelta(days=period.days * direction)
    if period.kind == "custom":
        return {
            "period": "custom",
            "since": (period.first + length).isoformat(),
            "until": (period.last + length).isoformat(),
        }
    return {"period": period.kind, "date": (period.first + length).isoformat()}


def _csv_response(table, period) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"leadline-{table.name}-{period.first:%Y%m%d}-{period.last:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow([*table.labels, *(heading for _, heading, _ in table.columns)])
    for row in table.rows:
        writer.writerow(table_cells(table, row, for_csv=True))
    return response


def dashboard_view(request):
    """The dashboard page, or one of its tables as CSV (?csv=sources|campaigns|...)."""
    _require_manager(request)
    period, problems = period_from(request.GET)
    dashboard = dashboard_build(period=period)
    if wanted := request.GET.get("csv"):
        table = dashboard.table(wanted)
        if table is None:
            raise Http404("No such table: sources, campaigns, exclusivity or reps.")
        return _csv_response(table, period)
    for problem in problems:
        messages.warning(request, problem)
    params = _period_params(period)
    tables = [
        {
            "table": table,
            "rows": [(row, table_cells(table, row)) for row in table.rows],
            "csv": "?" + urlencode({**params, "csv": table.name}),
        }
        for table in (dashboard.sources, dashboard.campaigns, dashboard.reps)
    ]
    side_by_side = [
        (
            name,
            [
                (shown(getattr(exclusive, f), kind), shown(getattr(shared, f), kind))
                for f, _, kind in SIDE_BY_SIDE_COLUMNS
            ],
        )
        for name, exclusive, shared in dashboard.exclusivity
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "dashboard": dashboard,
        "period": period,
        "periods": [("day", "Day"), ("week", "Week"), ("month", "Month"), ("custom", "Custom")],
        "anchor": request.GET.get("date") or period.first.isoformat(),
        "tables": tables,
        "side_by_side": side_by_side,
        "side_by_side_headings": [heading for _, heading, _ in SIDE_BY_SIDE_COLUMNS],
        "side_by_side_csv": "?" + urlencode({**params, "csv": "exclusivity"}),
        "previous": "?" + urlencode(_step(period, -1)),
        "next": "?" + urlencode(_step(period, 1)),
        "as_of": as_of_text(dashboard.as_of, request.user),
        "refresh_days": settings.ROLLUP_REFRESH_DAYS,
        "nightly_days": settings.ROLLUP_NIGHTLY_DAYS,
        "charts": [
            charts.spend_revenue_chart(dashboard),
            charts.funnel_chart(dashboard),
            charts.speed_chart(dashboard),
        ],
        "max_days": MAX_CUSTOM_DAYS,
    }
    return TemplateResponse(request, "admin/leads/dashboard.html", context)


@require_POST
def dashboard_rebuild(request):
    """Queue the rebuild of the figures of a range of days (an RQ job)."""
    _require_manager(request)
    period, problems = period_from(request.POST)
    if problems:
        for problem in problems:
            messages.error(request, problem)
        return redirect(reverse("admin:leads_dashboard"))
    rollups_rebuild_enqueue(first=period.first, last=period.last)
    messages.success(
        request,
        f"The figures of {period.label} are being rebuilt"
        + ("." if settings.TASKS_IN_PROCESS else ": reload in a minute."),
    )
    return redirect(reverse("admin:leads_dashboard") + "?" + urlencode(_period_params(period)))


admin.site.register_view("dashboard/", dashboard_view, "leads_dashboard")
admin.site.register_view("dashboard/rebuild/", dashboard_rebuild, "leads_dashboard_rebuild")

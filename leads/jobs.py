"""RQ jobs for leads: long work a person starts and watches. Thin, by id.

Each keeps its progress ({"done", "total"}) in its job's meta, where its page reads it.
"""

from django.contrib.auth import get_user_model
from rq import get_current_job

from leads.intake.csv_import import import_run
from leads.models import ImportRun, Lead
from leads.models.lead import OPEN_STATUSES
from leads.scoring import leads_rescore
from leads.workspace.queue import leads_queue_refresh


def _progress_save(*, done: int, total: int) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()


def _report_progress(run_id: int) -> None:
    if get_current_job() is not None:
        run = ImportRun.objects.only("rows_done", "rows_total").get(pk=run_id)
        _progress_save(done=run.rows_done, total=run.rows_total)


def run_import(run_id: int) -> dict:
    """Import a queued CSV file."""
    run = import_run(
        run=ImportRun.objects.select_related("source").get(pk=run_id), progress=_report_progress
    )
    return {"status": run.status, "accepted": run.accepted, "rejected": run.rejected}


def rescore_leads(lead_ids: list[int] | None, user_id: int | None = None) -> dict:
    """Rescore these leads (None: every open lead), and refresh the queue places of the open
    ones whose score changed, as lead_rescore's callers do."""
    leads = Lead.objects.open() if lead_ids is None else Lead.objects.filter(pk__in=lead_ids)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    changed = 0

    def rescored(*, rescored: list[Lead], done: int, total: int) -> None:
        nonlocal changed
        changed += len(rescored)
        if open_leads := [lead for lead in rescored if lead.status in OPEN_STATUSES]:
            leads_queue_refresh(leads=open_leads)
        _progress_save(done=done, total=total)

    done = leads_rescore(leads=leads, user=user, progress=rescored)
    return {"rescored": done, "changed": changed}

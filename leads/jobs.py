"""RQ jobs for leads: long work a person starts and watches. Thin, by id."""

from rq import get_current_job

from leads.intake.csv_import import import_run
from leads.models import ImportRun


def _report_progress(run_id: int) -> None:
    job = get_current_job()
    if job is not None:
        run = ImportRun.objects.only("rows_done", "rows_total").get(pk=run_id)
        job.meta["progress"] = {"done": run.rows_done, "total": run.rows_total}
        job.save_meta()


def run_import(run_id: int) -> dict:
    """Import a queued CSV file."""
    run = import_run(
        run=ImportRun.objects.select_related("source").get(pk=run_id), progress=_report_progress
    )
    return {"status": run.status, "accepted": run.accepted, "rejected": run.rejected}

"""RQ jobs for compliance: the Do Not Call list and suppression imports a manager watches.

The business modules queue these by name, so that they need not import this one.
"""

from dataclasses import asdict

from django.contrib.auth import get_user_model
from rq import get_current_job
from rq.job import JobStatus

from compliance.dnc import dnc_list_import
from compliance.models import DncList
from compliance.suppressions import (
    SuppressionImportOutcome,
    suppressions_import,
    suppressions_import_job_id,
)
from crm.queues import rq_queue


def _report_progress(dnc_list: DncList) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {
            "numbers": dnc_list.number_count,
            "rejected": dnc_list.rejected_count,
        }
        job.save_meta()


def run_dnc_import(dnc_list_id: int, path: str) -> dict:
    """Import a stored Do Not Call list file into its list."""
    outcome = dnc_list_import(
        dnc_list=DncList.objects.get(pk=dnc_list_id), path=path, progress=_report_progress
    )
    dnc_list = outcome.dnc_list
    return {
        "status": dnc_list.status,
        "numbers": dnc_list.number_count,
        "rejected": dnc_list.rejected_count,
        "replaced": [old.pk for old in outcome.replaced],
    }


def _report_suppression_progress(outcome: SuppressionImportOutcome) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {
            "imported": outcome.imported,
            "skipped": outcome.skipped,
            "bad": outcome.bad,
        }
        job.save_meta()


def run_suppressions_import(
    path: str, *, reason: str, scope: str, recorded_by_id: int | None
) -> dict:
    """Import a stored file of phone numbers and email addresses into the suppression list."""
    recorded_by = get_user_model().objects.get(pk=recorded_by_id) if recorded_by_id else None
    outcome = suppressions_import(
        path=path,
        reason=reason,
        scope=scope,
        recorded_by=recorded_by,
        progress=_report_suppression_progress,
    )
    return asdict(outcome)


def suppressions_import_state(import_id: str) -> dict | None:
    """Return how a suppression import stands, or None when there is no such job (any more).

    {"status": "queued", "running", "finished" or "failed", "file_name", "progress": counts
    so far, "outcome": the finished import's counts and first bad lines, "error": the
    failure's last line}.
    """
    job = rq_queue("imports").fetch_job(suppressions_import_job_id(import_id))
    if job is None:
        return None
    status = job.get_status()
    state = {
        "status": {
            JobStatus.STARTED: "running",
            JobStatus.FINISHED: "finished",
            JobStatus.FAILED: "failed",
            JobStatus.STOPPED: "failed",
            JobStatus.CANCELED: "failed",
        }.get(status, "queued"),
        "file_name": job.meta.get("file_name", ""),
        "progress": job.meta.get("progress", {}),
        "outcome": job.return_value() if status == JobStatus.FINISHED else None,
        "error": "",
    }
    if state["status"] == "failed":
        result = job.latest_result()
        lines = (result.exc_string or "").strip().splitlines() if result else []
        state["error"] = lines[-1] if lines else f"The job was {status}."
    return state

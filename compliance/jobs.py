"""RQ jobs for compliance: Do Not Call list imports, which a manager starts and watches."""

from rq import get_current_job

from compliance.dnc import dnc_list_import
from compliance.models import DncList
from crm.queues import rq_queue

# The full national registry is hundreds of millions of lines.
DNC_IMPORT_TIMEOUT_SECONDS = 6 * 3600


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


def enqueue_dnc_import(dnc_list: DncList, path: str) -> None:
    rq_queue("imports").enqueue(
        run_dnc_import,
        dnc_list.pk,
        str(path),
        job_id=f"dnc-import-{dnc_list.pk}",
        job_timeout=DNC_IMPORT_TIMEOUT_SECONDS,
    )

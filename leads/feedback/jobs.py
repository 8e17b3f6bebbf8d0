"""RQ jobs for feedback and the figures: long work, by id, progress in the job's meta."""

import datetime

from rq import get_current_job

from leads.feedback.exports import feedback_file_write
from leads.feedback.rollups import rollups_rebuild
from leads.models import FeedbackFile


def _progress_save(*, done: int, total: int) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()


def prepare_feedback_file(file_id: int) -> dict:
    """Write a queued feedback export to its file."""
    feedback_file = FeedbackFile.objects.select_related("source").get(pk=file_id)
    feedback_file = feedback_file_write(feedback_file=feedback_file, progress=_progress_save)
    return {"status": feedback_file.status, "rows": feedback_file.rows}


def rebuild_rollups(first_day: str, last_day: str) -> dict:
    """Rebuild the dashboard's figures for these UTC days (ISO dates, both included)."""
    first, last = datetime.date.fromisoformat(first_day), datetime.date.fromisoformat(last_day)
    days = [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]
    rows = rollups_rebuild(days=days, progress=_progress_save)
    return {"days": len(days), "rows": rows}

"""RQ queues: Redis in production, an in-memory Redis running jobs at once without it."""

from functools import cache

import django_rq
from django.conf import settings
from rq import Queue, Worker


@cache
def _in_process_redis():
    import fakeredis

    return fakeredis.FakeRedis()


def rq_queue(name: str = "default") -> Queue:
    """Return the named RQ queue; without REDIS_URL its jobs run synchronously in-process."""
    if settings.TASKS_IN_PROCESS:
        return django_rq.get_queue(name, connection=_in_process_redis(), is_async=False)
    return django_rq.get_queue(name)


class LeadlineWorker(Worker):
    """RQ's forking worker, with intake's lookup tables built once, before it forks jobs.

    Each job runs in a fresh fork of this process, so without this every CSV import would
    spend a second and a half rebuilding the ZIP and area-code tables.
    """

    def work(self, *args, **kwargs):
        from leads.normalize import place_tables

        place_tables()
        return super().work(*args, **kwargs)

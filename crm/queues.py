"""RQ queues: Redis in production, an in-memory Redis running jobs at once without it."""

from functools import cache

import django_rq
from django.conf import settings
from rq import Queue


@cache
def _in_process_redis():
    import fakeredis

    return fakeredis.FakeRedis()


def rq_queue(name: str = "default") -> Queue:
    """Return the named RQ queue; without REDIS_URL its jobs run synchronously in-process."""
    if settings.TASKS_IN_PROCESS:
        return django_rq.get_queue(name, connection=_in_process_redis(), is_async=False)
    return django_rq.get_queue(name)

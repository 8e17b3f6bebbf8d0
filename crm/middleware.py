"""Turn a Redis outage met inside a view into a page that says so, instead of a 500."""

import logging

import redis
from django.template.response import TemplateResponse

logger = logging.getLogger(__name__)


class QueueUnavailableMiddleware:
    """A view that needs Redis (the RQ dashboard, starting a job) answers 503 while it is away."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, redis.RedisError):
            return None
        logger.error("Redis unreachable while answering %s", request.path, exc_info=exception)
        response = TemplateResponse(request, "queue_unavailable.html", status=503)
        response["Retry-After"] = "30"
        return response

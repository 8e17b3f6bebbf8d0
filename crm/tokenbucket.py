"""Token buckets in Redis: a send rate per provider shared by every worker.

Celery's own `rate_limit` counts per worker process, so N workers would send N times the
provider's limit; here every worker takes its tokens from the one bucket in Redis, in one
atomic script (Redis's own clock, so workers' clocks need not agree). Without Redis (the
embedded default, one process) there is no limit; with Redis unreachable the send goes
ahead: the provider's own 429 answer, retried with backoff, is the limit of last resort.
"""

import logging
import math
from functools import cache

import redis
from django.conf import settings

from crm.redis_connection import redis_client, redis_key

logger = logging.getLogger(__name__)

# KEYS[1]: the bucket. ARGV: rate per second, burst (capacity), tokens wanted.
# Returns {tokens granted, milliseconds until the next token}.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
local wait = 0
if granted < wanted then
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {granted, wait}
"""


def tokens_take(*, bucket: str, rate_per_second: float, wanted: int = 1) -> tuple[int, float]:
    """Take up to `wanted` tokens; return (how many were granted, seconds until the next).

    A bucket holds one second's worth of tokens, so a burst never exceeds the rate.
    """
    if wanted <= 0:
        return 0, 0.0
    if rate_per_second <= 0 or not settings.REDIS_URL:
        return wanted, 0.0
    burst = max(1, math.floor(rate_per_second))
    try:
        granted, wait_ms = _script_for(redis_client())(
            keys=[redis_key(f"tokens:{bucket}")], args=[rate_per_second, burst, wanted]
        )
    except redis.RedisError:
        logger.warning("Send rate %s not limited: Redis is unreachable", bucket, exc_info=True)
        return wanted, 0.0
    return int(granted), int(wait_ms) / 1000


@cache
def _script_for(client: redis.Redis):
    # A registered script is called by its SHA and loaded again after a Redis restart.
    return client.register_script(TAKE_SCRIPT)

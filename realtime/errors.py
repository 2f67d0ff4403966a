"""What the real-time machinery treats as "the layer is unreachable", in one place."""

from redis.exceptions import RedisError

# What an unreachable channel layer or presence store raises (redis-py's errors are not
# subclasses of the builtin ConnectionError). Handled where raised: a refused join answers 1013,
# a lost event is logged and covered by the revocation sweep and the stream check.
LAYER_ERRORS = (TimeoutError, OSError, ConnectionError, RedisError)

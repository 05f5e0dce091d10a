"""Django's Redis cache backend, without a new Redis client for every cache operation.

Django's ``RedisCacheClient.get_client()`` builds a ``redis.Redis`` around its connection pool on each call:
with its ~170 response callbacks that is the costliest part of a cache lookup in CPU (bench/README.md, the
profile of the bare view). A ``redis.Redis`` is safe to share between threads (each command takes a connection
from the pool), so one per pool is kept and used again. Keys are not checked for memcached (Django warns of
keys memcached would refuse, walking every character). Everything else is Django's.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    """A RedisCacheClient that keeps the client of each connection pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:  # as Django's _get_connection_pool(), for this index
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` with :class:`ReusingRedisCacheClient`, and no check of
    keys for memcached."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def validate_key(self, key: str) -> None:
        # Django's walks every character of every key for what memcached would refuse (it only warns): Redis
        # takes any key, and a page served whole reads some thirty at once (common/page_cache.py).
        return None

"""The portal's Redis cache backend (common/redis_cache.py) on the real Redis: Django's, keeping its client, and
the sessions read from it (SESSION_ENGINE cached_db when CACHE_URL is set)."""

import threading
import uuid
import warnings

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import caches

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_cache(settings):
    """The portal's backend on the suite's Redis, under a key prefix of this test alone (removed after it)."""
    prefix = f"test-redis-cache-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {"BACKEND": "common.redis_cache.RedisCache", "LOCATION": REDIS, "KEY_PREFIX": prefix}
    }
    yield caches["default"]
    client = caches["default"]._cache.get_client(write=True)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def test_the_cache_keeps_one_redis_client_and_serves_every_operation_with_it(redis_cache):
    first = redis_cache._cache.get_client()
    redis_cache.set("answer", {"value": 42}, timeout=60)
    assert redis_cache.get("answer") == {"value": 42}
    assert redis_cache.add("answer", "other") is False
    redis_cache.set("count", 1, timeout=60)
    assert redis_cache.incr("count") == 2
    redis_cache.delete("answer")
    assert redis_cache.get("answer") is None
    assert redis_cache._cache.get_client(write=True) is first


def test_threads_sharing_the_client_each_read_their_own_values(redis_cache):
    client = redis_cache._cache  # as the threads of one gunicorn worker share one
    seen: dict[int, object] = {}

    def work(number: int) -> None:
        for round_ in range(50):
            client.set(f"{redis_cache.key_prefix}:t{number}", (number, round_), 60)
            seen[number] = client.get(f"{redis_cache.key_prefix}:t{number}", None)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {number: (number, 49) for number in range(6)}


@pytest.mark.django_db
def test_a_session_read_from_the_shared_cache_ends_at_logout(redis_cache, settings, client_for, admin):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    client = client_for(admin)
    assert client.get("/qos/").status_code == 200
    key = client.session.session_key
    assert redis_cache.get(f"django.contrib.sessions.cached_db{key}")[SESSION_KEY] == str(admin.pk)
    client.post("/accounts/logout/")
    assert redis_cache.get(f"django.contrib.sessions.cached_db{key}") is None
    assert client.get("/qos/").status_code == 302  # to the login page


def test_keys_are_not_held_to_memcacheds_rules(redis_cache):
    # Django's backends warn of a key memcached would refuse (spaces, over 250 characters): Redis takes it.
    key = "a key with spaces " + "x" * 300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        redis_cache.set(key, "kept", timeout=60)
        assert redis_cache.get_many([key]) == {key: "kept"}

"""Timestamps read with psycopg's C loader (common.timestamps) are the values Django's own loader reads."""

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

pytestmark = pytest.mark.django_db

VALUES = [
    "2026-12-05 17:40:00.123456+00",
    "2026-03-29 01:30:00+01",  # a daylight-saving change in Europe, given with an offset
    "1999-12-31 23:59:59.999999-08",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59+00",
]


def read(cursor):
    cursor.execute(
        "SELECT v::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n", [VALUES]
    )
    return [row[0] for row in cursor.fetchall()]


def test_timestamps_read_as_django_reads_them():
    if connection.vendor != "postgresql":
        pytest.skip("timestamptz loaders are PostgreSQL's")
    with connection.cursor() as cursor:
        fast = read(cursor)
        loader = cursor.cursor.adapters.get_loader(cursor.cursor.adapters.types["timestamptz"].oid, 0)
        assert loader.__name__ == "FastTimestamptzLoader"
    with connection.cursor() as cursor:
        register_tzloader(connection.timezone, cursor.cursor)  # Django's own loader, on this cursor only
        django = read(cursor)
    assert fast == django
    assert [value.tzinfo for value in fast] == [value.tzinfo for value in django] == [datetime.UTC] * 5
    assert fast[0] == datetime.datetime(2026, 12, 5, 17, 40, 0, 123456, tzinfo=datetime.UTC)
    assert fast[1] == datetime.datetime(2026, 3, 29, 0, 30, tzinfo=datetime.UTC)


def test_a_saved_datetime_reads_back_the_same(admin):
    from django.contrib.auth import get_user_model

    moment = datetime.datetime(
        2026, 12, 5, 9, 15, 30, 250000, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    get_user_model().objects.filter(pk=admin.pk).update(last_login=moment)
    stored = get_user_model().objects.get(pk=admin.pk).last_login
    assert stored == moment
    assert stored.tzinfo == datetime.UTC

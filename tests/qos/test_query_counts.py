"""Lists issue a number of SQL queries that does not grow with their rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qos.models import RSE, RucioInstance, StorageQoSClass, StorageQoSClassRevision
from tests.conftest import SAFE_CONTENT

pytestmark = pytest.mark.django_db


def make_classes(count: int, author, start: int = 0) -> None:
    """Many classes at once, some with a change awaiting approval (the list joins that revision)."""
    classes = StorageQoSClass.objects.bulk_create(
        StorageQoSClass(**{**SAFE_CONTENT, "label": f"CLASS-{i:04d}"}, status="approved", revision=1)
        for i in range(start, start + count)
    )
    revisions = StorageQoSClassRevision.objects.bulk_create(
        StorageQoSClassRevision(
            qos_class=qos_class,
            number=1,
            kind="edited",
            status="proposed",
            author=author,
            data=qos_class.content(),
        )
        for qos_class in classes[::2]
    )
    for qos_class, revision in zip(classes[::2], revisions, strict=True):
        qos_class.pending_revision = revision
    StorageQoSClass.objects.bulk_update(classes[::2], ["pending_revision"])
    # Every class is on an RSE, one in three is also planned on another: the catalogue counts both per row.
    instance, _ = RucioInstance.objects.get_or_create(name="escape", host="https://rucio.escape.invalid")
    RSE.objects.bulk_create(
        RSE(instance=instance, name=f"ON-{qos_class.label}", qos_class=qos_class) for qos_class in classes
    )
    RSE.objects.bulk_create(
        RSE(instance=instance, name=f"PLANNED-{qos_class.label}", planned_class=qos_class)
        for qos_class in classes[::3]
    )


def count_queries(client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client also loads the user's permissions
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/qos/", "/qos/?status=approved&q=CLASS", "/"])
def test_catalogue_pages_queries_do_not_grow_with_classes(client_for, member, admin, url):
    client = client_for(member)
    make_classes(5, admin)
    few = count_queries(client, url)
    make_classes(495, admin, start=5)
    assert count_queries(client, url) == few


@pytest.mark.parametrize("url", ["/api/v1/qos-classes/", "/api/v1/qos-classes/?page_size=500"])
def test_api_list_queries_do_not_grow_with_classes(api_for, member, admin, url):
    client = api_for(member)
    make_classes(5, admin)
    few = count_queries(client, url)
    make_classes(495, admin, start=5)
    response = client.get(url)
    assert response.json()["count"] == 500
    assert count_queries(client, url) == few


def test_the_class_page_queries_do_not_grow_with_its_rses(client_for, member, admin):
    make_classes(1, admin)
    qos_class = StorageQoSClass.objects.get()
    instance = RucioInstance.objects.get()
    url = f"/qos/{qos_class.label}/"
    client = client_for(member)
    few = count_queries(client, url)
    # In sync, with a capacity known on most: the page also weighs the volume committed on the class
    # against their usable space (engagement's panel, qos/consequences.py).
    RSE.objects.bulk_create(
        RSE(
            instance=instance,
            name=f"SITE-{i:04d}",
            qos_class=qos_class,
            planned_class=qos_class,
            sync_state="in_sync",
            rucio_value=qos_class.label,
            capacity_free_bytes=None if i % 7 == 0 else i * 10**12,
        )
        for i in range(1000)
    )
    many = count_queries(client, url)
    assert many <= few + 2  # the two counts, needed once an RSE list is longer than the page shows
    assert "All 1001 RSEs that carry CLASS-0000" in client.get(url).content.decode()

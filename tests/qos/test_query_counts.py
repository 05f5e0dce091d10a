"""Lists issue a number of SQL queries that does not grow with their rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qos.models import StorageQoSClass, StorageQoSClassRevision
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

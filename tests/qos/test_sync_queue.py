"""Asking for a Rucio sync when the task queue is down: a clear answer (503 in the API, a message on the page),
never a server error, and nothing changed. The broker is really down: this process publishes to a closed port."""

from collections.abc import Iterator

import pytest
import redis

from qos.models import RucioInstance
from tests.celery_worker import publishing_to
from tests.ports import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance():
    return RucioInstance.objects.create(name="escape-testbed", host="https://rucio.escape.example")


@pytest.fixture
def broker_down() -> Iterator[str]:
    """Point this process's Celery at a loopback port nothing listens on; restore the broker afterwards."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with publishing_to(closed):
        yield closed


def unchanged(instance: RucioInstance) -> tuple:
    instance.refresh_from_db()
    return (instance.last_synced_at, instance.last_error, instance.rses.count())


def test_the_api_answers_503_when_the_sync_cannot_be_queued(api_for, admin, instance, broker_down, caplog):
    before = unchanged(instance)
    response = api_for(admin).post(f"/api/v1/rucio-instances/{instance.name}/sync/")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The sync of escape-testbed could not be queued: the task queue does not answer. "
        "Try again shortly.",
        "code": "queue_unavailable",
    }
    assert response["Retry-After"] == "60"
    assert unchanged(instance) == before
    assert "Could not queue the sync of Rucio instance escape-testbed" in caplog.text


def test_the_sync_button_says_so_when_the_sync_cannot_be_queued(client_for, admin, instance, broker_down):
    before = unchanged(instance)
    response = client_for(admin).post(f"/qos/rucio/{instance.name}/sync/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/qos/rses/", 302)]
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "The sync of escape-testbed could not be queued: the task queue does not answer. Nothing was changed; "
        "try again shortly (the periodic sync also runs by itself)."
    ]
    assert unchanged(instance) == before


def test_with_the_broker_up_the_sync_is_queued(api_for, client_for, admin, instance, private_redis):
    # A database of its own, which no worker consumes from: the queue it empties is no worker's.
    broker_url = private_redis.database_url(9)
    queue = redis.Redis.from_url(broker_url)
    queue.delete("celery")
    with publishing_to(broker_url):
        response = api_for(admin).post(f"/api/v1/rucio-instances/{instance.name}/sync/")
        page = client_for(admin).post(f"/qos/rucio/{instance.name}/sync/", follow=True)
    assert response.status_code == 202
    assert response.json() == {"detail": "Sync of escape-testbed queued."}
    assert [str(m) for m in page.context["messages"]] == [
        "Sync of escape-testbed queued: new RSEs appear and drift is checked."
    ]
    assert queue.llen("celery") == 2
    queue.delete("celery")


def test_only_qos_admins_ask_for_a_sync(api_for, client_for, member, coordinator, instance, broker_down):
    for user in (member, coordinator):
        assert api_for(user).post(f"/api/v1/rucio-instances/{instance.name}/sync/").status_code == 403
        assert client_for(user).post(f"/qos/rucio/{instance.name}/sync/").status_code == 403

"""The conformance write-back: with ``RucioInstance.conformance_attribute`` set (e.g. QOS_OK), a changed verdict is
pushed to a real Rucio as that attribute through the outbox, beside the class attribute and never in its way."""

import pytest

from qos.models import RSE, Conformance, Probe, Push
from qos.rucio_gateway.sync import deliver, sync_rses

from . import test_rucio_push

fast_class = test_rucio_push.fast_class  # an approved FAST class

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_probe_decides(settings):
    settings.QOS_PROBE_CONFIRMATIONS = 1


@pytest.fixture
def rse_in_sync(rucio_instance, make_rse, approved_class, admin):
    """An RSE of the test Rucio carrying SAFE, pushed and in sync."""
    name = make_rse()
    sync_rses(rucio_instance)
    (push,) = RSE.objects.filter(name=name).assign(approved_class, by=admin)
    deliver([push.pk])
    rse = RSE.objects.select_related("instance", "qos_class").get(name=name)
    assert rse.sync_state == "in_sync"
    return rse


def write_back_on(rse: RSE, key: str = "QOS_OK") -> RSE:
    rse.instance.conformance_attribute = key
    rse.instance.save(update_fields=["conformance_attribute"])
    return rse


def judge(rse: RSE, *, ok: bool) -> bool:
    """Judge ``rse`` on one probe that failed (unreachable) or met the class (conforming)."""
    probe = Probe.objects.create(
        rse=rse,
        duration_seconds=1.0,
        ok=ok,
        fault="" if ok else "transient",
        error="" if ok else "connection timed out",
        write_mbps=10_000.0 if ok else None,
        read_mbps=10_000.0 if ok else None,
        latency_seconds=0.1 if ok else None,
    )
    _, changed = Conformance.objects.judge(rse, probe)
    return changed


def conformance_pushes(rse: RSE) -> list[Push]:
    return list(Push.objects.filter(rse=rse, key="QOS_OK").order_by("pk"))


def test_a_verdict_change_pushes_qos_ok_false_and_the_class_stays_in_sync(rse_in_sync, rucio_admin_client):
    rse = write_back_on(rse_in_sync)
    assert judge(rse, ok=False)
    (push,) = conformance_pushes(rse)
    assert (push.value, push.operation, push.state) == ("false", "set", "queued")
    # The class's sync state is about QOS, which Rucio still holds: a queued write-back changes nothing of it.
    assert RSE.objects.get(pk=rse.pk).sync_state == "in_sync"
    report = deliver([push.pk])
    assert report.written == [push.pk]
    attributes = rucio_admin_client.list_rse_attributes(rse.name)
    assert (attributes.get("QOS"), attributes.get("QOS_OK")) == ("SAFE", False)
    rse = RSE.objects.get(pk=rse.pk)
    assert (rse.sync_state, rse.rucio_value, rse.rucio_attributes["QOS_OK"]) == ("in_sync", "SAFE", "false")
    # Conforming again: true.
    assert judge(rse, ok=True)
    newer = conformance_pushes(rse)[-1]
    assert newer.value == "true"
    deliver([newer.pk])
    assert rucio_admin_client.list_rse_attributes(rse.name).get("QOS_OK") is True
    assert RSE.objects.get(pk=rse.pk).sync_state == "in_sync"


def test_a_class_push_queued_at_the_same_time_is_not_superseded_and_both_land(
    rse_in_sync, fast_class, admin, rucio_admin_client
):
    rse = write_back_on(rse_in_sync)
    (class_push,) = RSE.objects.filter(pk=rse.pk).assign(fast_class, by=admin)
    rse = RSE.objects.select_related("instance", "qos_class").get(pk=rse.pk)
    assert judge(rse, ok=False)
    (ok_push,) = conformance_pushes(rse)
    class_push.refresh_from_db()
    assert (class_push.state, ok_push.state) == ("queued", "queued")
    assert RSE.objects.get(pk=rse.pk).sync_state == "pending"  # the class push is what it waits for
    # Sent together: one at a time for the RSE, the other handed on, neither superseded.
    report = deliver([class_push.pk, ok_push.pk])
    assert report.superseded == []
    assert report.written == [class_push.pk] and report.waiting == [ok_push.pk]
    deliver(report.waiting)
    assert set(Push.objects.filter(pk__in=[class_push.pk, ok_push.pk]).values_list("state", flat=True)) == {
        "done"
    }
    attributes = rucio_admin_client.list_rse_attributes(rse.name)
    assert (attributes.get("QOS"), attributes.get("QOS_OK")) == ("FAST", False)
    rse = RSE.objects.get(pk=rse.pk)
    assert (rse.sync_state, rse.rucio_value) == ("in_sync", "FAST")


def test_a_newer_class_push_does_not_supersede_a_queued_write_back_nor_the_reverse(
    rse_in_sync, fast_class, admin
):
    rse = write_back_on(rse_in_sync)
    assert judge(rse, ok=False)
    (ok_push,) = conformance_pushes(rse)
    (class_push,) = RSE.objects.filter(pk=rse.pk).assign(fast_class, by=admin)
    rse = RSE.objects.select_related("instance", "qos_class").get(pk=rse.pk)
    assert judge(rse, ok=True)  # a new class: judged at once
    ok_push.refresh_from_db()
    class_push.refresh_from_db()
    assert (class_push.state, ok_push.state) == ("queued", "superseded")  # only by the newer write-back
    assert conformance_pushes(rse)[-1].state == "queued"


def test_off_by_default_no_write_back(rse_in_sync):
    assert rse_in_sync.instance.conformance_attribute == ""
    assert judge(rse_in_sync, ok=False)
    assert Push.objects.filter(rse=rse_in_sync).exclude(key="QOS").count() == 0


def test_an_unknown_verdict_removes_the_attribute(rse_in_sync, admin, rucio_admin_client):
    rse = write_back_on(rse_in_sync)
    assert judge(rse, ok=False)
    deliver([conformance_pushes(rse)[-1].pk])
    # Unassigned: no promise to check, unknown at once, and QOS_OK must not vouch for a class it never judged.
    (class_push,) = RSE.objects.filter(pk=rse.pk).assign(None, by=admin)
    deliver([class_push.pk])
    rse = RSE.objects.select_related("instance").get(pk=rse.pk)
    _, changed = Conformance.objects.judge(rse, None, reason="No class.")
    assert changed
    removal = conformance_pushes(rse)[-1]
    assert (removal.operation, removal.value) == ("delete", None)
    deliver([removal.pk])
    assert "QOS_OK" not in rucio_admin_client.list_rse_attributes(rse.name)


def test_the_api_turns_the_write_back_on_for_an_instance_and_refuses_the_class_attribute(
    api_for, admin, rucio_instance
):
    url = f"/api/v1/rucio-instances/{rucio_instance.name}/"
    refused = api_for(admin).patch(url, {"conformance_attribute": "QOS"}, format="json")
    assert refused.status_code == 400
    assert "differ" in str(refused.json()["conformance_attribute"])
    rucio_instance.refresh_from_db()
    assert rucio_instance.conformance_attribute == ""
    response = api_for(admin).patch(url, {"conformance_attribute": "QOS_OK"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["conformance_attribute"] == "QOS_OK"
    rucio_instance.refresh_from_db()
    assert rucio_instance.conformance_attribute == "QOS_OK"


def test_turning_the_write_back_on_brings_every_rse_in_line_at_once(
    api_for, admin, rse_in_sync, make_rse, rucio_instance, rucio_admin_client
):
    # Judged while the write-back was off: nothing pushed then.
    assert judge(rse_in_sync, ok=False)
    name = make_rse("NEVERJUDGED")
    sync_rses(rucio_instance)
    never_judged = RSE.objects.get(name=name)  # unknown, and Rucio holds no QOS_OK: nothing to push
    url = f"/api/v1/rucio-instances/{rse_in_sync.instance.name}/"
    response = api_for(admin).patch(url, {"conformance_attribute": "QOS_OK"}, format="json")
    assert response.status_code == 200, response.content
    (push,) = conformance_pushes(rse_in_sync)
    assert (push.value, push.requested_by) == ("false", admin)
    assert not Push.objects.filter(rse=never_judged).exists()
    deliver([push.pk])
    assert rucio_admin_client.list_rse_attributes(rse_in_sync.name).get("QOS_OK") is False

    # Renamed: the new attribute is set and the old one removed, so nothing stale vouches for the RSE.
    response = api_for(admin).patch(url, {"conformance_attribute": "QOS_CONFORMS"}, format="json")
    assert response.status_code == 200, response.content
    pushes = {p.key: p for p in Push.objects.filter(rse=rse_in_sync, state="queued")}
    assert (pushes["QOS_OK"].operation, pushes["QOS_CONFORMS"].value) == ("delete", "false")
    deliver([pushes["QOS_OK"].pk])
    deliver([pushes["QOS_CONFORMS"].pk])
    attributes = rucio_admin_client.list_rse_attributes(rse_in_sync.name)
    assert "QOS_OK" not in attributes
    assert attributes.get("QOS_CONFORMS") is False

    # Off: removed everywhere; the class attribute is untouched.
    response = api_for(admin).patch(url, {"conformance_attribute": ""}, format="json")
    assert response.status_code == 200, response.content
    (removal,) = Push.objects.filter(rse=rse_in_sync, state="queued")
    assert (removal.key, removal.operation) == ("QOS_CONFORMS", "delete")
    deliver([removal.pk])
    attributes = rucio_admin_client.list_rse_attributes(rse_in_sync.name)
    assert "QOS_CONFORMS" not in attributes
    assert attributes.get("QOS") == "SAFE"
    assert RSE.objects.get(pk=rse_in_sync.pk).sync_state == "in_sync"


def test_setting_the_same_attribute_again_pushes_nothing(api_for, admin, rse_in_sync):
    rse = write_back_on(rse_in_sync)
    assert judge(rse, ok=False)
    before = Push.objects.count()
    response = api_for(admin).patch(
        f"/api/v1/rucio-instances/{rse.instance.name}/", {"conformance_attribute": "QOS_OK"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Push.objects.count() == before

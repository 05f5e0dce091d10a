"""A Rucio instance's page: where it connects (the deployment's, read only), its RSEs by sync state, and the
attributes QoS admins may change, with what a change does to the RSEs."""

import pytest
from django.contrib.messages import get_messages

from qos.models import RSE, Conformance, Push, RucioInstance

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def instance() -> RucioInstance:
    return RucioInstance.objects.create(
        name="escape", host="https://rucio.escape.example", env_prefix="RUCIO"
    )


@pytest.fixture
def rse_in_sync(instance, approved_class) -> RSE:
    """An RSE carrying SAFE, read from Rucio holding QOS=SAFE, judged violating by its probes."""
    rse = RSE.objects.create(
        instance=instance, name="CERN-EOS", qos_class=approved_class, rucio_value="SAFE", sync_state="in_sync"
    )
    RSE.objects.filter(pk=rse.pk).record_rucio_attributes({rse.pk: {"QOS": "SAFE"}})
    Conformance.objects.create(rse=rse, verdict="violating")
    return RSE.objects.get(pk=rse.pk)


def test_a_member_reads_the_page_without_the_form_and_may_not_post(client_for, member, instance, rse_in_sync):
    client = client_for(member)
    page = client.get("/qos/rucio/escape/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "https://rucio.escape.example" in text
    assert "In sync" in text
    assert 'name="conformance_attribute"' not in text
    refused = client.post(
        "/qos/rucio/escape/", {"attribute_key": "X", "conformance_attribute": "", "enabled": "on"}
    )
    assert refused.status_code == 403
    assert "Only QoS admins" in refused.content.decode()
    instance.refresh_from_db()
    assert (instance.attribute_key, instance.enabled) == ("QOS", True)


def test_an_outsider_is_refused_and_an_unknown_instance_is_404(client_for, outsider, admin, instance):
    assert client_for(outsider).get("/qos/rucio/escape/").status_code == 403
    assert client_for(admin).get("/qos/rucio/nowhere/").status_code == 404


def test_the_rse_pages_link_to_their_instance(client_for, member, rse_in_sync):
    client = client_for(member)
    assert 'href="/qos/rucio/escape/"' in client.get("/qos/rses/").content.decode()
    assert 'href="/qos/rucio/escape/"' in client.get("/qos/rses/CERN-EOS/").content.decode()


def test_an_admin_turns_the_write_back_on_and_every_rse_gets_its_verdict(
    client_for, admin, instance, rse_in_sync
):
    response = client_for(admin).post(
        "/qos/rucio/escape/", {"attribute_key": "QOS", "conformance_attribute": "QOS_OK", "enabled": "on"}
    )
    assert response.status_code == 302
    assert response.url == "/qos/rucio/escape/"
    assert messages_of(response) == ["escape saved. 1 push of the conformance attribute queued."]
    (push,) = Push.objects.filter(rse=rse_in_sync, key="QOS_OK")
    assert (push.value, push.requested_by) == ("false", admin)
    instance.refresh_from_db()
    assert instance.conformance_attribute == "QOS_OK"
    # The class's state is about QOS alone.
    assert RSE.objects.get(pk=rse_in_sync.pk).sync_state == "in_sync"


def test_the_conformance_attribute_must_differ_and_the_form_keeps_what_was_typed(
    client_for, admin, instance, rse_in_sync
):
    response = client_for(admin).post(
        "/qos/rucio/escape/", {"attribute_key": "QOS", "conformance_attribute": "QOS", "enabled": ""}
    )
    assert response.status_code == 200
    assert "Must differ from the class attribute (QOS)." in response.content.decode()
    assert response.context["form"]["conformance_attribute"].value() == "QOS"
    instance.refresh_from_db()
    assert (instance.conformance_attribute, instance.enabled) == ("", True)
    assert not Push.objects.exists()


def test_a_new_class_attribute_shows_the_rses_drifted_at_once_and_writes_nothing(
    client_for, api_for, admin, instance, rse_in_sync
):
    response = client_for(admin).post(
        "/qos/rucio/escape/", {"attribute_key": "QOS_CLASS", "conformance_attribute": "", "enabled": "on"}
    )
    assert response.status_code == 302
    rse = RSE.objects.get(pk=rse_in_sync.pk)
    # Rucio was read holding QOS=SAFE, not QOS_CLASS=SAFE.
    assert (rse.rucio_value, rse.sync_state) == (None, "drifted")
    assert not Push.objects.exists()
    # Back through the API: in sync again, from what the portal last read.
    back = api_for(admin).patch("/api/v1/rucio-instances/escape/", {"attribute_key": "QOS"}, format="json")
    assert back.status_code == 200, back.content
    rse = RSE.objects.get(pk=rse_in_sync.pk)
    assert (rse.rucio_value, rse.sync_state) == ("SAFE", "in_sync")


def test_an_admin_disables_the_instance(client_for, admin, instance):
    response = client_for(admin).post(
        "/qos/rucio/escape/", {"attribute_key": "QOS", "conformance_attribute": ""}
    )
    assert response.status_code == 302
    instance.refresh_from_db()
    assert instance.enabled is False
    assert "disabled" in client_for(admin).get("/qos/rucio/escape/").content.decode()

"""A Rucio instance reads its credentials from RUCIO or RUCIO_* variables only.

Whoever edits an instance also chooses its server: a prefix such as POSTGRES would have the portal send the
database password (POSTGRES_PASSWORD) to that server on the next sync.
"""

import pytest

from qos import tasks
from qos.models import RucioInstance
from qos.rucio_gateway import PermanentRucioError

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("prefix", ["POSTGRES", "OIDC_RP_CLIENT", "DATABASE", "RUCIOX"])
def test_no_instance_with_another_prefix_can_be_added_and_nothing_is_saved(api_for, admin, prefix):
    """No instance can be added through the API at all (tests/qos/test_rucio_instance_config.py)."""
    response = api_for(admin).post(
        "/api/v1/rucio-instances/",
        {"name": "elsewhere", "host": "https://rucio.elsewhere.invalid", "env_prefix": prefix},
    )
    assert response.status_code == 405
    assert not RucioInstance.objects.exists()


def test_an_instance_cannot_be_moved_to_another_prefix(api_for, admin):
    instance = RucioInstance.objects.create(
        name="doma", host="https://rucio.doma.invalid", env_prefix="RUCIO_DOMA"
    )
    for prefix in ("POSTGRES", "RUCIO", "RUCIO_TESTBED"):
        response = api_for(admin).patch(
            "/api/v1/rucio-instances/doma/", {"env_prefix": prefix}, format="json"
        )
        assert response.status_code == 400
        assert "Set in the deployment's environment" in response.json()["env_prefix"][0]
    instance.refresh_from_db()
    assert instance.env_prefix == "RUCIO_DOMA"


def test_an_instance_stored_with_another_prefix_reads_no_variable(monkeypatch):
    """One saved before the rule: its sync is refused with the reason, before any variable is read."""
    monkeypatch.setenv("POSTGRES_USERNAME", "postgres")
    monkeypatch.setenv("POSTGRES_PASSWORD", "database-password-5e1")
    instance = RucioInstance.objects.create(
        name="old", host="https://rucio.old.invalid", env_prefix="POSTGRES"
    )
    with pytest.raises(PermanentRucioError, match="The credentials prefix 'POSTGRES' is not RUCIO or RUCIO_"):
        instance.connection()
    tasks.sync_instance(instance.pk)
    instance.refresh_from_db()
    assert instance.last_error.startswith("The credentials prefix 'POSTGRES' is not RUCIO or RUCIO_...")
    assert "database-password-5e1" not in instance.last_error

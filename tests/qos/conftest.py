import pytest

from qos.models import RucioInstance


@pytest.fixture
def rucio_instance(rucio_server, rucio_deployment, settings, tmp_path):
    """The session's Rucio server as a portal instance, configured as in production: its server and credentials
    in RUCIO_TEST_* variables (RUCIO_INSTANCES=TEST), plain http allowed (the server is on the loopback)."""
    prefix = rucio_deployment.add(
        "TEST", rucio_server.url, USERNAME=rucio_server.username, PASSWORD=rucio_server.password
    )
    settings.RUCIO_TOKEN_DIR = str(tmp_path / "tokens")
    return RucioInstance.objects.create(name="test", host=rucio_server.url, account="root", env_prefix=prefix)

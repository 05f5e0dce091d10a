import pytest

from qos.models import RucioInstance


@pytest.fixture
def rucio_instance(rucio_server, monkeypatch, settings, tmp_path):
    """The session's Rucio server as a portal instance; credentials in RUCIO_TEST_* variables, as in production."""
    monkeypatch.setenv("RUCIO_TEST_USERNAME", rucio_server.username)
    monkeypatch.setenv("RUCIO_TEST_PASSWORD", rucio_server.password)
    settings.RUCIO_TOKEN_DIR = str(tmp_path / "tokens")
    return RucioInstance.objects.create(
        name="test", host=rucio_server.url, account="root", env_prefix="RUCIO_TEST"
    )

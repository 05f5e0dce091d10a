import contextlib
from pathlib import Path

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


POSIX_DOMAINS = {
    "lan": {"read": 1, "write": 1, "delete": 1},
    "wan": {"read": 1, "write": 1, "delete": 1},
}


@pytest.fixture(scope="session")
def probe_scope(rucio_admin_client):
    """The probe scope (QOS_PROBE_SCOPE's default) for root on the session's Rucio."""
    from rucio.common.exception import Duplicate

    with contextlib.suppress(Duplicate):
        rucio_admin_client.add_scope("root", "qos_probe")
    return "qos_probe"


@pytest.fixture
def posix_rse(make_rse, rucio_admin_client, probe_scope, tmp_path):
    """``posix_rse(directory=None, *, quota=True, protocol=True) -> (name, directory)``: an RSE of the test Rucio
    whose storage is a local directory (Rucio's posix protocol), with no quota limit for root, as the probes need
    (README of ../shared/rucio, "Storage behind the RSEs")."""

    def make(directory: Path | None = None, *, quota: bool = True, protocol: bool = True) -> tuple[str, Path]:
        name = make_rse("PROBE")
        directory = directory or tmp_path / name.lower()
        if protocol:
            rucio_admin_client.add_protocol(
                name,
                {
                    "scheme": "file",
                    "hostname": "localhost",
                    "port": 0,
                    "prefix": str(directory),
                    "impl": "rucio.rse.protocols.posix.Default",
                    "domains": POSIX_DOMAINS,
                },
            )
        if quota:
            rucio_admin_client.set_local_account_limit("root", name, -1)
        return name, directory

    return make

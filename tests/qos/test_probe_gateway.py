"""The Rucio gateway's probe: a file written through rucio-clients' UploadClient onto a real posix RSE of the test
Rucio, read back with DownloadClient, and deleted; nothing of it is left on the storage or readable in Rucio."""

from pathlib import Path

import pytest

from qos.rucio_gateway import PermanentRucioError, RucioGateway
from qos.rucio_gateway.probe import PROBE_NAME_PREFIX, ProbeNotPossible, RSEProbe

SIZE = 2_000_000


def files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()] if directory.exists() else []


def probe(connection, rse: str, **kwargs) -> RSEProbe:
    options = {"scope": "qos_probe", "size_bytes": SIZE, "lifetime_seconds": 600, **kwargs}
    return RSEProbe(RucioGateway(connection), rse, **options)


def readable_probe_replicas(client, rse: str) -> list[dict]:
    """Replicas of probe files on ``rse`` that Rucio would still hand out to a reader."""
    names = [
        {"scope": "qos_probe", "name": name}
        for name in client.list_dids("qos_probe", {"name": f"{PROBE_NAME_PREFIX}.{rse}.*"}, did_type="file")
    ]
    return [
        replica
        for replica in (client.list_replicas(names) if names else [])
        if rse in replica.get("rses", {})
    ]


def test_a_probe_writes_reads_back_and_leaves_nothing_behind(rucio_connection, posix_rse, rucio_admin_client):
    rse, directory = posix_rse()
    timings = probe(rucio_connection, rse).run()
    assert timings.size_bytes == SIZE
    assert timings.write_seconds > 0 and timings.read_seconds > 0
    assert timings.write_mbps == pytest.approx(SIZE / 1e6 / timings.write_seconds)
    assert timings.latency_seconds == timings.read_seconds
    assert timings.did.startswith(f"qos_probe:{PROBE_NAME_PREFIX}.{rse}.")
    # The file was on the storage (its directories remain) and is gone from it.
    assert (directory / "qos_probe").is_dir()
    assert files_under(directory) == []
    # Rucio hands out no replica of it any more, and its rule purges the replica.
    assert readable_probe_replicas(rucio_admin_client, rse) == []
    rules = list(rucio_admin_client.list_did_rules(*timings.did.split(":")))
    assert rules and all(rule["purge_replicas"] for rule in rules)


def test_a_storage_path_that_cannot_be_created_fails_permanently_and_leaves_nothing(
    rucio_connection, posix_rse, rucio_admin_client, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the RSE's directory should be")
    rse, _ = posix_rse(blocker / "storage")
    with pytest.raises(PermanentRucioError) as failed:
        probe(rucio_connection, rse).run()
    assert not isinstance(failed.value, ProbeNotPossible)
    assert f"probe of RSE {rse} failed" in str(failed.value)
    assert readable_probe_replicas(rucio_admin_client, rse) == []
    assert [
        rule
        for rule in rucio_admin_client.list_replication_rules({"scope": "qos_probe", "rse_expression": rse})
        if not rule["purge_replicas"]
    ] == []


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ({"protocol": False}, "has no protocol that allows writing"),
        ({"quota": False}, "has no quota on RSE"),
    ],
)
def test_an_rse_without_write_protocol_or_quota_cannot_be_probed_and_says_what_to_set(
    rucio_connection, posix_rse, setup, says
):
    rse, directory = posix_rse(**setup)
    with pytest.raises(ProbeNotPossible, match=says):
        probe(rucio_connection, rse).run()
    assert files_under(directory) == []


def test_a_missing_probe_scope_says_how_to_create_it(rucio_connection, posix_rse):
    rse, _ = posix_rse()
    with pytest.raises(ProbeNotPossible, match="rucio-admin scope add --account root --scope qos_nowhere"):
        probe(rucio_connection, rse, scope="qos_nowhere").run()


def test_the_next_probe_removes_the_file_a_dead_probe_left(rucio_connection, posix_rse, rucio_admin_client):
    rse, directory = posix_rse()
    # A probe killed after its upload: the file on the storage, its rule not purging (as UploadClient made it).
    left = probe(rucio_connection, rse)
    left._delete = lambda *args: None  # the kill: nothing deletes it
    left.run()
    assert len(files_under(directory)) == 1
    timings = probe(rucio_connection, rse).run()
    assert timings.cleaned_leftovers == 1
    assert files_under(directory) == []
    assert readable_probe_replicas(rucio_admin_client, rse) == []

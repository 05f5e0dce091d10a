"""The Rucio gateway against a real Rucio server (tests/rucio_server.py). No Django database needed."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qos.rucio_gateway import (
    PermanentRucioError,
    RucioConnection,
    RucioError,
    RucioGateway,
    TransientRucioError,
)
from qos.rucio_gateway.client import _GatewayClient
from tests.ports import free_port


@pytest.fixture
def gateway(rucio_connection: RucioConnection) -> Iterator[RucioGateway]:
    with RucioGateway(rucio_connection) as gw:
        yield gw


def _elsewhere(conn: RucioConnection, url: str, **changes: object) -> RucioConnection:
    return dataclasses.replace(conn, host=url, auth_host=url, **changes)


# --------------------------------------------------------------------------- attributes


def test_an_attribute_can_be_set_read_back_and_deleted(gateway, make_rse, rucio_admin_client):
    rse = make_rse()

    gateway.set_rse_attribute(rse, "QOS", "SAFE")
    assert gateway.get_rse_attributes(rse)["QOS"] == "SAFE"
    assert rucio_admin_client.list_rse_attributes(rse)["QOS"] == "SAFE"
    assert gateway.list_rses("QOS=SAFE") == [rse]

    gateway.delete_rse_attribute(rse, "QOS")
    assert "QOS" not in gateway.get_rse_attributes(rse)
    assert "QOS" not in rucio_admin_client.list_rse_attributes(rse)


def test_setting_an_attribute_again_overwrites_its_value(gateway, make_rse, rucio_admin_client):
    rse = make_rse()
    gateway.set_rse_attribute(rse, "QOS", "SAFE")
    gateway.set_rse_attribute(rse, "QOS", "FAST")
    assert rucio_admin_client.list_rse_attributes(rse)["QOS"] == "FAST"


def test_attribute_values_are_read_back_as_strings(gateway, make_rse):
    rse = make_rse()
    gateway.set_rse_attribute(rse, "QOS", "SAFE")
    gateway.set_rse_attribute(rse, "copies", "2")
    gateway.set_rse_attribute(rse, "tape_backed", "True")  # Rucio hands "true"/"false" back as booleans

    attrs = gateway.get_rse_attributes(rse)

    assert all(isinstance(value, str) for value in attrs.values())
    assert attrs["QOS"] == "SAFE"
    assert attrs["copies"] == "2"
    assert attrs["tape_backed"] == "true"
    assert attrs[rse] == "true"  # every RSE carries its own name as an attribute


def test_the_attributes_of_all_rses_can_be_read_at_once(gateway, make_rse):
    first, second = make_rse(), make_rse()
    gateway.set_rse_attribute(first, "QOS", "SAFE")

    everything = gateway.get_all_rse_attributes()

    assert everything[first]["QOS"] == "SAFE"
    assert "QOS" not in everything[second]
    assert everything[second][second] == "true"


def test_the_attributes_of_many_rses_are_read_with_one_request_each_unknown_ones_left_out(
    gateway, make_rse, rucio_server
):
    first, second, third = make_rse(), make_rse(), make_rse()
    gateway.set_rse_attribute(first, "QOS", "SAFE")
    gateway.set_rse_attribute(third, "tape_backed", "True")
    reads_before = rucio_server.requests_logged(re.escape("/attr/ HTTP"))
    names = [third, "QOSTEST-NO-SUCH-RSE", first, "../etc", second, first]

    found = gateway.get_rse_attributes_many(names, workers=4)

    # The order given, each name once; the unknown RSE and the impossible name are left out.
    assert list(found) == [third, first, second]
    assert found[first]["QOS"] == "SAFE"
    assert "QOS" not in found[second] and found[second][second] == "true"
    assert found[third]["tape_backed"] == "true"
    # One request per distinct valid name (the unknown RSE too), none for a name that is not one.
    assert rucio_server.requests_logged(re.escape("/attr/ HTTP")) == reads_before + 4
    assert gateway.get_rse_attributes_many([]) == {}


class _FakeRucio(BaseHTTPRequestHandler):
    """Just enough of Rucio for concurrent reads: a userpass login, and RSE attributes (``/rses/<name>/attr/``).

    ``BOOM-*`` RSEs answer HTTP 500 without error information, ``GONE-*`` ones RSENotFound. With a barrier set,
    every read waits until ``barrier.parties`` reads are under way at once, and fails with 500 if they never are.
    """

    protocol_version = "HTTP/1.1"
    barrier: threading.Barrier | None = None
    logins: list[str]

    def do_GET(self) -> None:
        if self.path.startswith("/auth/userpass"):
            self.logins.append(self.path)
            self._answer(200, b"", {"X-Rucio-Auth-Token": "fake-token"})
            return
        name = self.path.split("/")[2]
        if self.headers.get("X-Rucio-Auth-Token") != "fake-token":
            self._answer(401, b"", {"ExceptionClass": "CannotAuthenticate", "ExceptionMessage": "no token"})
        elif name.startswith("GONE-"):
            self._answer(404, b"", {"ExceptionClass": "RSENotFound", "ExceptionMessage": f"{name} not found"})
        elif name.startswith("BOOM-"):
            self._answer(500, b"Internal Server Error", {})
        else:
            if self.barrier is not None:
                try:
                    self.barrier.wait(timeout=10)
                except threading.BrokenBarrierError:
                    self._answer(500, b"the reads were not concurrent", {})
                    return
            body = json.dumps({name: True, "QOS": f"Q-{name}"}).encode()
            self._answer(200, body, {"Content-Type": "application/json"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_rucio(rucio_connection, tmp_path) -> Iterator[tuple[type[_FakeRucio], RucioConnection]]:
    handler = type("Handler", (_FakeRucio,), {"logins": [], "barrier": None})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield handler, _elsewhere(rucio_connection, url, token_dir=str(tmp_path / "fake-tokens"))
        finally:
            server.shutdown()


def test_many_rses_are_read_several_at_a_time_each_thread_with_a_client_of_its_own(fake_rucio, monkeypatch):
    handler, conn = fake_rucio
    handler.barrier = threading.Barrier(4)  # a read is answered only while 4 are under way at once
    used: list[tuple[int, int]] = []  # (thread, client) of every read
    original = _GatewayClient.list_rse_attributes

    def spy(client, rse):
        used.append((threading.get_ident(), id(client)))
        return original(client, rse)

    monkeypatch.setattr(_GatewayClient, "list_rse_attributes", spy)
    names = [f"SITE-{i}" for i in range(8)]

    with RucioGateway(conn) as gw:
        found = gw.get_rse_attributes_many(names, workers=4)

    assert found == {name: {name: "true", "QOS": f"Q-{name}"} for name in names}
    threads = {thread for thread, _ in used}
    assert len(threads) == 4
    # One client per thread, never shared: as many clients as threads, each used by one thread only.
    assert len(set(used)) == len({client for _, client in used}) == 4
    assert len(handler.logins) == 1  # the gateway logs in once; the threads take its token from the cache


def test_a_failed_read_among_many_is_raised_like_the_other_calls(fake_rucio):
    _, conn = fake_rucio
    gw = RucioGateway(conn)
    assert gw.get_rse_attributes_many(["SITE-A", "GONE-B", "SITE-C"], workers=3) == {
        "SITE-A": {"SITE-A": "true", "QOS": "Q-SITE-A"},
        "SITE-C": {"SITE-C": "true", "QOS": "Q-SITE-C"},
    }
    with pytest.raises(TransientRucioError) as caught:
        gw.get_rse_attributes_many(["SITE-A", "BOOM-B", "SITE-C", "GONE-D"], workers=3)
    assert "read attributes of RSE BOOM-B failed" in str(caught.value)
    assert "http status code: 500" in str(caught.value)


def test_reading_many_rses_from_an_unreachable_server_is_a_transient_error(rucio_connection):
    down = RucioGateway(_elsewhere(rucio_connection, f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(TransientRucioError):
        down.get_rse_attributes_many(["SITE-A", "SITE-B"], workers=2)


def test_deleting_a_missing_attribute_is_a_no_op(gateway, make_rse):
    rse = make_rse()
    gateway.delete_rse_attribute(rse, "QOS")
    gateway.delete_rse_attribute(rse, "QOS")
    assert "QOS" not in gateway.get_rse_attributes(rse)


def test_bulk_set_changes_several_rses_in_one_request_and_keeps_their_other_attributes(
    gateway, make_rse, rucio_admin_client, rucio_server
):
    rses = [make_rse() for _ in range(3)]
    for rse in rses:
        rucio_admin_client.add_rse_attribute(rse, "site_owner", "ops")
    rucio_admin_client.add_rse_attribute(rses[0], "QOS", "CHEAP")
    imports_before = rucio_server.requests_logged(re.escape('"POST /import'))
    attribute_posts_before = rucio_server.requests_logged(re.escape('"POST /rses/'))

    gateway.set_rse_attributes_bulk({rses[0]: {"QOS": "SAFE"}, rses[1]: {"QOS": "FAST", "QOS_NOTE": "x"}})

    assert rucio_server.requests_logged(re.escape('"POST /import')) == imports_before + 1
    assert rucio_server.requests_logged(re.escape('"POST /rses/')) == attribute_posts_before
    first, second, third = (rucio_admin_client.list_rse_attributes(rse) for rse in rses)
    assert (first["QOS"], first["site_owner"]) == ("SAFE", "ops")
    assert (second["QOS"], second["QOS_NOTE"], second["site_owner"]) == ("FAST", "x", "ops")
    assert "QOS" not in third and third["site_owner"] == "ops"
    settings = rucio_admin_client.get_rse(rses[0])
    assert settings["availability_write"] is True and settings["rse_type"] == "DISK"


def test_bulk_set_with_an_unknown_rse_changes_nothing_and_creates_no_rse(
    gateway, make_rse, rucio_admin_client
):
    rse = make_rse()

    with pytest.raises(PermanentRucioError) as caught:
        gateway.set_rse_attributes_bulk({rse: {"QOS": "SAFE"}, "QOSTEST-NO-SUCH-RSE": {"QOS": "SAFE"}})

    assert "QOSTEST-NO-SUCH-RSE" in str(caught.value)
    assert "QOS" not in rucio_admin_client.list_rse_attributes(rse)
    # The import endpoint would have created it.
    assert "QOSTEST-NO-SUCH-RSE" not in {r["rse"] for r in rucio_admin_client.list_rses()}


def test_bulk_set_of_nothing_sends_nothing(gateway, rucio_server):
    before = rucio_server.requests_logged(re.escape('"'))
    gateway.set_rse_attributes_bulk({})
    assert rucio_server.requests_logged(re.escape('"')) == before


def test_list_rses_with_an_expression_that_matches_nothing_is_empty(gateway, make_rse):
    rse = make_rse()
    assert rse in gateway.list_rses()
    assert gateway.list_rses("QOS=NO_SUCH_CLASS") == []


# --------------------------------------------------------------------------- accounts


def test_ping_reports_the_server_version_without_credentials(rucio_connection):
    anonymous = dataclasses.replace(rucio_connection, username="", password="")
    assert RucioGateway(anonymous).ping() == "41.5.1"


def test_whoami_names_the_account(gateway):
    assert gateway.whoami()["account"] == "root"


def test_root_account_is_admin(gateway):
    assert gateway.account_is_admin() is True


def test_an_account_without_the_admin_attribute_is_told_it_needs_it(
    rucio_connection, rucio_admin_client, make_rse
):
    rse = make_rse()
    account = f"qostest{uuid.uuid4().hex[:8]}"
    rucio_admin_client.add_account(account, "SERVICE", "qos@example.org")
    rucio_admin_client.add_identity(
        account, f"{account}-login", "USERPASS", "qos@example.org", password="pw-123456"
    )
    pusher = RucioGateway(
        dataclasses.replace(
            rucio_connection, account=account, username=f"{account}-login", password="pw-123456"
        )
    )

    assert pusher.account_is_admin() is False
    with pytest.raises(PermanentRucioError) as caught:
        pusher.set_rse_attribute(rse, "QOS", "SAFE")
    assert caught.value.rucio_class == "AccessDenied"
    assert "'admin' attribute" in str(caught.value)

    rucio_admin_client.add_account_attribute(account, "admin", "True")
    assert pusher.account_is_admin() is True
    pusher.set_rse_attribute(rse, "QOS", "SAFE")
    assert rucio_admin_client.list_rse_attributes(rse)["QOS"] == "SAFE"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call",
    [
        lambda gw, rse: gw.get_rse_attributes(rse),
        lambda gw, rse: gw.set_rse_attribute(rse, "QOS", "SAFE"),
        lambda gw, rse: gw.delete_rse_attribute(rse, "QOS"),
    ],
    ids=["read", "set", "delete"],
)
def test_unknown_rse_is_a_permanent_error(gateway, call):
    with pytest.raises(PermanentRucioError) as caught:
        call(gateway, "QOSTEST-NOWHERE")
    assert caught.value.permanent is True
    assert caught.value.rucio_class == "RSENotFound"
    assert "QOSTEST-NOWHERE" in str(caught.value)


def test_wrong_password_is_a_permanent_error(rucio_connection, tmp_path):
    fresh = dataclasses.replace(
        rucio_connection, password="definitely-wrong-pw", token_dir=str(tmp_path / "t")
    )
    with pytest.raises(PermanentRucioError) as caught:
        RucioGateway(fresh).whoami()
    assert caught.value.rucio_class == "CannotAuthenticate"
    assert "definitely-wrong-pw" not in str(caught.value)


def test_wrong_password_is_refused_even_with_a_valid_token_cached_in_the_same_dir(rucio_connection):
    RucioGateway(rucio_connection).whoami()  # caches a valid token for root in rucio_connection.token_dir
    wrong = dataclasses.replace(rucio_connection, password="definitely-wrong-pw")
    with pytest.raises(PermanentRucioError):
        RucioGateway(wrong).whoami()


def test_unreachable_server_is_a_transient_error(rucio_connection):
    down = RucioGateway(_elsewhere(rucio_connection, f"http://127.0.0.1:{free_port()}"))
    for call in (down.whoami, down.ping, lambda: down.set_rse_attribute("CERN-EOS", "QOS", "SAFE")):
        with pytest.raises(TransientRucioError) as caught:
            call()
        assert caught.value.permanent is False
        assert "127.0.0.1" in str(caught.value)


def test_a_server_that_does_not_answer_in_time_is_a_transient_error(rucio_connection):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(TransientRucioError) as caught:
            RucioGateway(_elsewhere(rucio_connection, url, timeout=1)).whoami()
    assert caught.value.rucio_class in {"ReadTimeout", "ConnectionError", "ServerConnectionException"}


class _Fails500(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"Internal Server Error")

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_error_during_login_is_transient_not_bad_credentials(rucio_connection):
    # rucio-clients reports any failed login as CannotAuthenticate, even an HTTP 500.
    with ThreadingHTTPServer(("127.0.0.1", 0), _Fails500) as broken:
        threading.Thread(target=broken.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{broken.server_address[1]}"
            with pytest.raises(TransientRucioError) as caught:
                RucioGateway(_elsewhere(rucio_connection, url)).whoami()
        finally:
            broken.shutdown()
    assert "HTTP 500" in str(caught.value)


def test_a_rejected_oidc_token_is_a_permanent_error_and_never_prompts(rucio_connection):
    oidc = dataclasses.replace(
        rucio_connection, auth_type="oidc", username="", password="", token="not-a-real-token"
    )
    with pytest.raises(PermanentRucioError) as caught:
        RucioGateway(oidc).whoami()
    assert caught.value.rucio_class == "CannotAuthenticate"
    assert "not-a-real-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("rse", "key", "value"),
    [
        ("CERN-EOS", "../QOS", "SAFE"),
        ("CERN/EOS", "QOS", "SAFE"),
        ("CERN-EOS", "QOS", 3),
        ("CERN-EOS", "", "x"),
    ],
)
def test_invalid_names_and_values_are_permanent_errors_before_any_request(
    gateway, rucio_server, rse, key, value
):
    before = rucio_server.requests_logged(re.escape('"'))
    with pytest.raises(PermanentRucioError):
        gateway.set_rse_attribute(rse, key, value)
    assert rucio_server.requests_logged(re.escape('"')) == before


def test_secrets_never_appear_in_reprs_or_error_messages(rucio_connection, tmp_path):
    conn = dataclasses.replace(rucio_connection, password="s3cret-pass-word", token="t0ken-value-xyz")
    for text in (repr(conn), str(conn), repr(RucioGateway(conn))):
        assert "s3cret-pass-word" not in text and "t0ken-value-xyz" not in text

    errors: list[RucioError] = []
    for gw in (
        RucioGateway(dataclasses.replace(conn, token_dir=str(tmp_path / "t"))),  # wrong password
        RucioGateway(_elsewhere(conn, f"http://127.0.0.1:{free_port()}")),  # unreachable
    ):
        with pytest.raises(RucioError) as caught:
            gw.set_rse_attribute("CERN-EOS", "QOS", "SAFE")
        errors.append(caught.value)
    for error in errors:
        for text in (str(error), repr(error), error.message, repr(error.args)):
            assert "s3cret-pass-word" not in text and "t0ken-value-xyz" not in text

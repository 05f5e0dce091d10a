"""pytest plugin: a real Rucio server for the test session, started with ``scripts/rucio-server``.

Enable it with ``pytest_plugins = ["tests.rucio_server"]`` in ``tests/conftest.py``. Nothing here touches
Django or its database.

Fixtures:

* ``rucio_server`` (session): a fresh server (own state dir, own port, random root password) for the whole
  session, stopped at the end. Yields :class:`RucioServer` (``url``, ``account``, ``username``, ``password``,
  ``state_dir``).
* ``rucio_connection``: a :class:`qos.rucio_gateway.RucioConnection` for root with a token dir of its own (per test).
* ``rucio_admin_client`` (session): a plain ``rucio.client.Client`` logged in as root with its own token dir,
  for checking results independently of the gateway, and for setting the scene.
* ``make_rse``: factory ``make_rse(**add_rse_kwargs) -> str`` creating uniquely named RSEs, deleted afterwards.
* ``silent_server``: a :class:`SilentServer`, an address where a Rucio request hangs until ``close()``.
* ``slow_rucio``: a :class:`SlowProxy` in front of the session's server: every request is held a random while
  before it goes on, so answers come back late, and in any order.

The first run creates the server's virtualenv (about a minute); later sessions start in ~5 s.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from rucio.client.client import Client
from rucio.common.exception import RucioException

from qos.rucio_gateway import RucioConnection
from tests.ports import free_port

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "rucio-server"
PREFERRED_PORT = int(os.environ.get("RUCIO_TEST_PORT", "18180"))  # apart from the demo server's 18080


@dataclass(frozen=True)
class RucioServer:
    """The session's Rucio server and its root login."""

    url: str
    username: str
    password: str = field(repr=False)
    state_dir: Path = field(default=Path())
    account: str = "root"

    env: dict = field(default_factory=dict, repr=False, compare=False)

    def stop(self) -> None:
        """Stop the server (a fault drill); start() brings it back with the same database and port."""
        subprocess.run([str(SCRIPT), "stop"], env=self.env, capture_output=True, timeout=60, check=True)

    def start(self) -> None:
        started = subprocess.run(
            [str(SCRIPT), "start"], env=self.env, capture_output=True, text=True, timeout=300, check=False
        )
        if started.returncode != 0:
            pytest.fail(
                f"scripts/rucio-server start failed ({started.returncode}):\n{started.stderr[-3000:]}"
            )

    @property
    def access_log(self) -> Path:
        """gunicorn's access log: one line per HTTP request, handy to count requests."""
        return self.state_dir / "log" / "access.log"

    def requests_logged(self, pattern: str) -> int:
        """How many requests so far gunicorn's access log has whose line matches the regular expression.

        gunicorn writes a line just after the response is sent, so a client can be faster than the log: a ping
        with a unique query string, once logged, shows that every earlier request is logged too.
        """
        barrier = uuid.uuid4().hex
        requests.get(f"{self.url}/ping?barrier={barrier}", timeout=10)
        deadline = time.monotonic() + 10
        while barrier not in (text := self.access_log.read_text()):
            assert time.monotonic() < deadline, "the ping never reached gunicorn's access log"
            time.sleep(0.02)
        return sum(bool(re.search(pattern, line)) for line in text.splitlines() if "barrier=" not in line)


def _free_port(preferred: int | None = None) -> int:
    """The preferred port if nothing listens on it, else any free one."""
    if preferred is not None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", preferred)) != 0:
                return preferred
    return free_port()


def _token_client(url: str, username: str, password: str, token_dir: Path) -> Client:
    """A plain rucio-clients Client whose token cache is token_dir (it defaults to a per-user temp dir)."""
    cls = type("TestTokenClient", (Client,), {"TOKEN_PATH_PREFIX": f"{token_dir}/.rucio_"})
    return cls(
        rucio_host=url,
        auth_host=url,
        account="root",
        auth_type="userpass",
        creds={"username": username, "password": password},
        vo="def",
        timeout=30,
    )


@pytest.fixture(scope="session")
def rucio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RucioServer]:
    state_dir = tmp_path_factory.mktemp("rucio-server")
    env = {
        **os.environ,
        "RUCIO_SERVER_DIR": str(state_dir),
        "RUCIO_SERVER_USERNAME": "qostest",
        "RUCIO_SERVER_PASSWORD": f"qostest-{secrets.token_hex(8)}",
    }
    # Two sessions starting at once (parallel runs, xdist workers) can pick the same free port: the loser's
    # start fails (the script checks that its own gunicorn holds the port) and tries another port.
    for port in (_free_port(PREFERRED_PORT), _free_port(), _free_port()):
        env["RUCIO_SERVER_PORT"] = str(port)
        started = subprocess.run(
            [str(SCRIPT), "start", "--fresh"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if started.returncode == 0:
            break
    else:
        pytest.fail(f"scripts/rucio-server start failed ({started.returncode}):\n{started.stderr[-3000:]}")
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    try:
        yield RucioServer(
            url=values["RUCIO_URL"],
            username=values["RUCIO_USERNAME"],
            password=values["RUCIO_PASSWORD"],
            state_dir=state_dir,
            env=env,
        )
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60, check=False)


@pytest.fixture
def rucio_connection(rucio_server: RucioServer, tmp_path: Path) -> RucioConnection:
    return RucioConnection(
        host=rucio_server.url,
        auth_host=rucio_server.url,
        account=rucio_server.account,
        auth_type="userpass",
        username=rucio_server.username,
        password=rucio_server.password,
        token_dir=str(tmp_path / "rucio-tokens"),
        timeout=30,
    )


@pytest.fixture(scope="session")
def rucio_admin_client(
    rucio_server: RucioServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    token_dir = tmp_path_factory.mktemp("rucio-admin-tokens")
    client = _token_client(rucio_server.url, rucio_server.username, rucio_server.password, token_dir)
    yield client
    client.session.close()  # an open keep-alive connection delays gunicorn's graceful stop by ~2 s


@pytest.fixture
def make_rse(rucio_admin_client: Client) -> Iterator[Callable[..., str]]:
    created: list[str] = []

    def make(prefix: str = "QOSTEST", **add_rse_kwargs: object) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10].upper()}"  # Rucio RSE names: upper case, digits, - and _
        rucio_admin_client.add_rse(name, **add_rse_kwargs)
        created.append(name)
        return name

    yield make
    for name in created:
        with contextlib.suppress(RucioException):  # already deleted by the test
            rucio_admin_client.delete_rse(name)


@dataclass
class SilentServer:
    """A TCP server that accepts connections and never answers: a request to it hangs, like a stuck Rucio."""

    url: str
    accepted: list[socket.socket]
    listener: socket.socket = field(repr=False)
    stopping: threading.Event = field(repr=False)
    thread: threading.Thread = field(repr=False)

    def close(self) -> None:
        """Stop accepting and drop every connection: hung requests fail, new ones are refused."""
        self.stopping.set()
        self.thread.join()
        for connection in self.accepted:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    server = SilentServer(
        url=f"http://127.0.0.1:{listener.getsockname()[1]}",
        accepted=accepted,
        listener=listener,
        stopping=stopping,
        thread=thread,
    )
    yield server
    server.close()


@dataclass
class SlowProxy:
    """A TCP proxy to the Rucio server that holds what the client sends a random while (up to ``most_seconds``)
    before passing it on: a slow Rucio, under which requests sent one after the other may land in either order."""

    url: str
    most_seconds: float
    listener: socket.socket = field(repr=False)
    stopping: threading.Event = field(repr=False)
    thread: threading.Thread = field(repr=False)
    connections: list[socket.socket] = field(default_factory=list, repr=False)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.close()
        self.listener.close()


def _pass_on(source: socket.socket, target: socket.socket, delay: Callable[[], float]) -> None:
    """Copy ``source`` to ``target`` (each piece after ``delay()`` seconds) until either end closes."""
    try:
        while data := source.recv(65536):
            time.sleep(delay())
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def slow_rucio(rucio_server: RucioServer) -> Iterator[SlowProxy]:
    upstream = rucio_server.url.removeprefix("http://").rsplit(":", 1)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stopping = threading.Event()
    proxy_connections: list[socket.socket] = []
    most = 1.0

    def accept() -> None:
        while not stopping.is_set():
            try:
                client = listener.accept()[0]
            except TimeoutError:
                continue
            server = socket.create_connection((upstream[0], int(upstream[1])), timeout=30)
            server.settimeout(None)
            proxy_connections.extend((client, server))
            threading.Thread(
                target=_pass_on, args=(client, server, lambda: random.uniform(0, most)), daemon=True
            ).start()
            threading.Thread(target=_pass_on, args=(server, client, lambda: 0.0), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    proxy = SlowProxy(
        url=f"http://127.0.0.1:{listener.getsockname()[1]}",
        most_seconds=most,
        listener=listener,
        stopping=stopping,
        thread=thread,
        connections=proxy_connections,
    )
    yield proxy
    proxy.close()

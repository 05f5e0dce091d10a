"""The whole stack started the way production starts it, a push made through it, and a clean stop.

honcho runs the repository's Procfile (gunicorn with gunicorn.conf.py, a Celery worker, Celery beat) with
production settings (``portal.settings``, ``DEBUG=0``) read from the environment only, on a throwaway PostgreSQL
database, a Redis of this test session and the session's real Rucio server. The release step of README "Running
in production" (migrate, collectstatic) runs first. Then an admin logs in over HTTP, assigns SAFE to an RSE
through the API, and a separate Rucio client sees ``QOS=SAFE`` on it: web, outbox, Redis, worker and Rucio all
took part. ``pytest -m deploy`` selects this test alone; it also runs in the normal suite.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import dj_database_url
import psycopg
import pytest
import requests
from psycopg import sql

from tests.celery_worker import wait_for

pytestmark = [pytest.mark.deploy]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Only what any login shell has: nothing of the test run (DJANGO_SETTINGS_MODULE=tests.settings,
# DJANGO_ALLOW_ASYNC_UNSAFE, DATABASE_URL, CELERY_*, RUCIO_*, OIDC_* ...) may leak into the stack.
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "TMPDIR")
PROCESSES = ("web.1", "worker.1", "beat.1")
HONCHO_RC_AFTER_SIGTERM = 143


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but is not ours: a recycled id, not one of the stack's processes
        return True
    return True


@pytest.fixture
def deploy_database() -> Iterator[str]:
    """A fresh PostgreSQL database ``qos_deploy_<random>`` on the suite's server, dropped afterwards."""
    configured = dj_database_url.parse(os.environ.get("DATABASE_URL", "sqlite://"))
    if "postgresql" not in configured["ENGINE"]:
        # A SQLite run of the suite: production means PostgreSQL, the one scripts/test makes sure of.
        configured = dj_database_url.parse("postgres://postgres@127.0.0.1:5432/postgres")
    params = {
        "host": configured["HOST"] or "127.0.0.1",
        "port": int(configured["PORT"] or 5432),
        "user": configured["USER"] or "postgres",
        "password": configured["PASSWORD"] or None,
        "dbname": "postgres",
        "connect_timeout": 5,
        "autocommit": True,
    }
    name = f"qos_deploy_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(**params) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as error:
        pytest.fail(f"the deployment test needs PostgreSQL on {params['host']}:{params['port']}: {error}")
    password = f":{quote(params['password'], safe='')}" if params["password"] else ""
    yield f"postgres://{params['user']}{password}@{params['host']}:{params['port']}/{name}"
    with psycopg.connect(**params) as connection:
        # FORCE: the stack's persistent connections (DATABASE_CONN_MAX_AGE) may not be gone yet after a failure.
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Stack:
    """``honcho start`` of the Procfile, its output in a file, and the process groups it started."""

    env: dict[str, str] = field(repr=False)
    log: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str, timeout: float = 120) -> str:
        """``python manage.py ...`` with the stack's environment, as an operator runs it; its output."""
        return self.run("python", "manage.py", *args, timeout=timeout)

    def run(self, *command: str, timeout: float = 120) -> str:
        """An operator's command with the stack's environment, in the repository; its output."""
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self) -> None:
        empty_env_file = self.log.with_name("empty.env")  # never a developer's own .env in the repository
        empty_env_file.write_text("")
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["honcho", "start", "--no-colour", "--env", str(empty_env_file), "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """What honcho started, by process name: each one leads a process group (session) of its own."""
        return {name: int(pid) for name, pid in re.findall(r"\| (\S+) started \(pid=(\d+)\)", self.output())}

    def exit_codes(self) -> dict[str, int]:
        return {name: int(rc) for name, rc in re.findall(r"\| (\S+) stopped \(rc=(-?\d+)\)", self.output())}

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_everything(self) -> None:
        """After a failure: nothing of the stack may outlive the test."""
        for pgid in self.pids().values():
            if _process_group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def stack(deploy_database, private_redis, rucio_server, tmp_path) -> Iterator[Stack]:
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",  # an activated virtualenv
        HOME=str(home),
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        # Plain HTTP on loopback: no TLS in front of this gunicorn, unlike production.
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        DATABASE_URL=deploy_database,
        # A database of the private Redis that no other test's worker reads.
        CELERY_BROKER_URL=private_redis.url.rsplit("/", 1)[0] + "/7",
        RUCIO_HOST=rucio_server.url,
        RUCIO_USERNAME=rucio_server.username,
        RUCIO_PASSWORD=rucio_server.password,
        RUCIO_ACCOUNT=rucio_server.account,
        RUCIO_INSTANCE_NAME="deploy-rucio",
        RUCIO_TOKEN_DIR=str(tmp_path / "rucio-tokens"),
        STATIC_ROOT=str(tmp_path / "static"),
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        WORKER_CONCURRENCY="1",
        BEAT_SCHEDULE_FILE=str(tmp_path / "celerybeat-schedule"),
    )
    deployed = Stack(env=env, log=tmp_path / "honcho.log", port=port)
    try:
        yield deployed
    finally:
        deployed.kill_everything()


def release(stack: Stack, pool: ThreadPoolExecutor) -> None:
    """README's release step: migrate and collectstatic (independent of each other, so side by side)."""
    collected = pool.submit(stack.manage, "collectstatic", "--no-input", "-v0")
    stack.manage("migrate", "--no-input", "-v0")
    collected.result()


def admin_password(loaddemo_output: str) -> str:
    password = re.search(r"^\s+admin\s+(\S+)$", loaddemo_output, re.MULTILINE)
    assert password, f"no password for admin in loaddemo's output:\n{loaddemo_output}"
    return password.group(1)


def wait_until_up(stack: Stack) -> None:
    def up() -> bool:
        if not stack.alive():
            pytest.fail(f"honcho stopped while starting:\n{stack.output()[-4000:]}")
        try:
            return requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not listening yet; workers still loading
            return False

    wait_for(up, timeout=30, what="gunicorn to answer /healthz")
    # "ready.": the worker consumes; "Starting...": beat schedules the sweeper of lost pushes.
    wait_for(lambda: "ready." in stack.output(), timeout=30, what="the Celery worker to be ready")
    wait_for(lambda: "beat: Starting" in stack.output(), timeout=30, what="Celery beat to start")


def log_in(session: requests.Session, stack: Stack, username: str, password: str) -> None:
    page = session.get(f"{stack.url}/accounts/login/", timeout=10)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{stack.url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, f"login refused ({answer.status_code}):\n{answer.text[:2000]}"


def test_the_procfile_stack_serves_pushes_to_rucio_and_stops_cleanly(stack, make_rse, rucio_admin_client):
    rse = make_rse("DEPLOY")
    with ThreadPoolExecutor() as pool:
        release(stack, pool)
        # What an operator does next (the demo's accounts and classes, the RSEs of Rucio) while the stack starts.
        demo = pool.submit(stack.manage, "loaddemo", "--reset-passwords")
        imported = pool.submit(stack.manage, "sync_rucio")
        stack.start()
        wait_until_up(stack)
        # README's health check of the workers, which answers through the broker.
        pong = pool.submit(stack.run, "celery", "-A", "portal", "inspect", "ping", "--timeout=10")
        assert "deploy-rucio:" in imported.result()

        with requests.Session() as session:
            health = session.get(f"{stack.url}/healthz", timeout=10)
            assert health.status_code == 200
            assert health.json() == {"status": "ok", "database": "ok"}
            # DEBUG is off: the page links the collected, hashed static files, and WhiteNoise serves them.
            login_page = session.get(f"{stack.url}/accounts/login/", timeout=10).text
            stylesheet = re.search(r'href="(/static/css/portal\.[0-9a-f]{12}\.css)"', login_page)
            assert stylesheet, "the login page does not link a hashed stylesheet (is DEBUG really off?)"
            assert session.get(f"{stack.url}{stylesheet.group(1)}", timeout=10).status_code == 200

            log_in(session, stack, "admin", admin_password(demo.result()))
            assigned = session.patch(
                f"{stack.url}/api/v1/rses/{rse}/",
                json={"qos_class": "SAFE"},
                headers={"X-CSRFToken": session.cookies["csrftoken"]},
                timeout=10,
            )
            assert assigned.status_code == 200, assigned.text
            assert assigned.json()["qos_class"] == "SAFE"

            wait_for(
                lambda: rucio_admin_client.list_rse_attributes(rse).get("QOS") == "SAFE",
                timeout=30,
                what=f"QOS=SAFE on {rse} in Rucio",
            )
            wait_for(
                lambda: (
                    session.get(f"{stack.url}/api/v1/rses/{rse}/", timeout=10).json()["sync_state"]
                    == "in_sync"
                ),
                timeout=30,
                what=f"the portal to record {rse} in sync",
            )
        assert re.search(r"worker-\d+@\S+: OK\s+pong", pong.result()), pong.result()

    started = stack.pids()
    assert set(started) == set(PROCESSES), stack.output()[-4000:]
    # gunicorn.conf.py turns off gunicorn 27's control socket, whose default path every instance would share.
    assert not (Path(stack.env["HOME"]) / ".gunicorn").exists()

    stack.process.send_signal(signal.SIGTERM)
    try:
        returncode = stack.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"honcho did not stop within 30 s of SIGTERM:\n{stack.output()[-4000:]}")
    assert returncode == HONCHO_RC_AFTER_SIGTERM, stack.output()[-4000:]
    # Each process stopped by itself, gracefully: honcho would SIGKILL one still running after 5 s (rc -9).
    assert stack.exit_codes() == dict.fromkeys(PROCESSES, 0), stack.output()[-4000:]
    deadline = time.monotonic() + 10
    while any(_process_group_alive(pgid) for pgid in started.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = {name: pgid for name, pgid in started.items() if _process_group_alive(pgid)}
    assert not leftovers, f"processes left behind: {leftovers}"
    assert not _process_group_alive(stack.process.pid)
    assert not _listening(stack.port)

"""pytest plugin: the portal's deployed stack, as production starts it, and a PostgreSQL server to restart.

* :class:`Stack`: ``honcho start`` of the repository's Procfile (or of some of its processes: ``web``, ``worker``,
  ``beat``), its output in a file, and the process groups it started. :func:`stack_env` builds the production
  environment every process reads (``portal.settings``, ``DEBUG=0``, nothing inherited from the test run).
* :func:`release` (README's release step), :func:`wait_until_up`, :func:`log_in`, :func:`admin_password`.
* ``private_postgres`` (session fixture): a :class:`PrivatePostgres`, a PostgreSQL server of this session only
  (initdb into a directory of its own, trust authentication, loopback, a free port) that a fault drill may
  ``restart()``, ``stop()`` and ``start()`` without disturbing any other test or session.

Used by tests/portal/test_deployment.py and tests/qos/test_fault_drills.py.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from tests.celery_worker import wait_for
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Only what any login shell has: nothing of the test run (DJANGO_SETTINGS_MODULE=tests.settings,
# DJANGO_ALLOW_ASYNC_UNSAFE, DATABASE_URL, CELERY_*, RUCIO_*, OIDC_* ...) may leak into the stack.
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "TMPDIR")
PROCFILE_PROCESSES = ("web", "worker", "prober", "beat")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but is not ours: a recycled id, not one of the stack's processes
        return True
    return True


def stack_env(
    *, database_url: str, broker_url: str, rucio_server, directory: Path, port: int, **overrides: str
) -> dict[str, str]:
    """The variables of README "Configuration" for a stack on loopback; its files under ``directory``."""
    home = directory / "home"
    home.mkdir(exist_ok=True)
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
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        RUCIO_HOST=rucio_server.url,
        # The test Rucio is plain HTTP on loopback: allowed explicitly, as production never does.
        RUCIO_ALLOW_INSECURE_HTTP="1",
        RUCIO_USERNAME=rucio_server.username,
        RUCIO_PASSWORD=rucio_server.password,
        RUCIO_ACCOUNT=rucio_server.account,
        RUCIO_INSTANCE_NAME="deploy-rucio",
        RUCIO_TOKEN_DIR=str(directory / "rucio-tokens"),
        STATIC_ROOT=str(directory / "static"),
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        WORKER_CONCURRENCY="1",
        BEAT_SCHEDULE_FILE=str(directory / "celerybeat-schedule"),
    )
    env.update(overrides)
    return env


@dataclass
class Stack:
    """``honcho start`` of the Procfile, its output in a file, and the process groups it started.

    ``processes``: only these lines of the Procfile (``honcho start web``); empty, all of them. Separate stacks of
    one process each let a drill kill or restart one without the others (honcho stops every process it started
    as soon as one of them ends).
    """

    env: dict[str, str] = field(repr=False)
    log: Path
    port: int
    processes: tuple[str, ...] = ()
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
                [
                    "honcho",
                    "start",
                    "--no-colour",
                    "--env",
                    str(empty_env_file),
                    "--port",
                    str(self.port),
                    *self.processes,
                ],
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
        """SIGKILL to every process group of the stack (and honcho): nothing of it outlives a test."""
        for pgid in self.pids().values():
            if process_group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to honcho, as a process manager stops it; its exit status once everything stopped."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"honcho did not stop within {timeout} s of SIGTERM:\n{self.output()[-4000:]}")


def release(stack: Stack, pool: ThreadPoolExecutor) -> None:
    """README's release step: migrate and collectstatic (independent of each other, so side by side)."""
    collected = pool.submit(stack.manage, "collectstatic", "--no-input", "-v0")
    stack.manage("migrate", "--no-input", "-v0")
    collected.result()


def admin_password(loaddemo_output: str, username: str = "admin") -> str:
    """The new password of a demo account in ``manage.py loaddemo --reset-passwords``'s output."""
    password = re.search(rf"^\s+{re.escape(username)}\s+(\S+)$", loaddemo_output, re.MULTILINE)
    assert password, f"no password for {username} in loaddemo's output:\n{loaddemo_output}"
    return password.group(1)


def wait_until_up(stack: Stack, timeout: float = 60) -> None:
    """Until each of the stack's processes serves: gunicorn answers /healthz, the worker consumes, beat ticks."""
    processes = stack.processes or PROCFILE_PROCESSES

    def up() -> bool:
        if not stack.alive():
            pytest.fail(f"honcho stopped while starting:\n{stack.output()[-4000:]}")
        try:
            return requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not listening yet; workers still loading
            return False

    if "web" in processes:
        wait_for(up, timeout=timeout, what="gunicorn to answer /healthz")
    if "worker" in processes:
        wait_for(lambda: "ready." in stack.output(), timeout=timeout, what="the Celery worker to be ready")
    if "beat" in processes:
        # "Starting...": beat schedules the sweeper of lost pushes.
        wait_for(lambda: "beat: Starting" in stack.output(), timeout=timeout, what="Celery beat to start")


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


# --- A PostgreSQL server of this session ------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries (Debian: /usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


@dataclass
class PrivatePostgres:
    """A PostgreSQL server only this test session uses: restart(), stop() and start() it in fault drills.

    Trust authentication on 127.0.0.1 and a unix socket in a directory of its own; no fsync (nothing here must
    survive a crash of the machine). As root the server runs as the ``postgres`` user, as PostgreSQL requires.
    """

    bin_dir: Path
    directory: Path
    port: int  # chosen by start_on_a_free_port()
    run_as: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def initdb(self) -> None:
        socket_dir = self.directory / "socket"
        for directory in (self.directory, socket_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
            if self.run_as:
                shutil.chown(directory, self.run_as, self.run_as)
        self._pg(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# tests/stack.py: a throwaway server of one test session\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{socket_dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def start(self) -> None:
        self._pg(*self._start_command())

    def start_on_a_free_port(self, attempts: int = 3) -> None:
        """The first start: a port free when chosen may be taken by another run before the server binds it,
        and then the server tries another one."""
        for _ in range(attempts):
            self.port = free_port()
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(f"port = {self.port}\n")  # the last setting of a name wins
            log_before = self.log.read_text(errors="replace") if self.log.exists() else ""
            if self._pg(*self._start_command(), check=False).returncode == 0:
                return
            log = self.log.read_text(errors="replace")[len(log_before) :] if self.log.exists() else ""
            if "Address already in use" not in log:
                pytest.fail(f"PostgreSQL did not start:\n{log[-3000:]}")
        pytest.fail(f"this session's PostgreSQL found its port taken {attempts} times")

    def _start_command(self) -> tuple[str, ...]:
        return (
            "pg_ctl",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log),
            "--wait",
            "--timeout=120",
            "start",
        )

    def stop(self) -> None:
        """A fast shutdown: every connection is ended at once, as a restart for an upgrade or a failover does."""
        self._pg("pg_ctl", "--pgdata", str(self.data_dir), "--mode=fast", "--wait", "--timeout=120", "stop")

    def restart(self, down_for: float = 0) -> None:
        """Stop, stay down ``down_for`` seconds, start again: same data, same port."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def running(self) -> bool:
        status = self._pg("pg_ctl", "--pgdata", str(self.data_dir), "status", check=False)
        return status.returncode == 0

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        with self.connect() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / program), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        # cwd /: the server user may not enter the test's working directory.
        done = subprocess.run(command, cwd="/", capture_output=True, text=True, timeout=180, check=False)
        if check and done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            pytest.fail(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}\n{log}"
            )
        return done


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.fail(
            "the fault drills need PostgreSQL's server programs (initdb, pg_ctl) under "
            "/usr/lib/postgresql/<version>/bin: install the Debian package postgresql (scripts/test does)"
        )
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, the private PostgreSQL server needs a user 'postgres' to run as")
        run_as = "postgres"
    # Not under pytest's tmp_path: its parent is private to this user, and the server user must get in.
    directory = Path(tempfile.mkdtemp(prefix="qos-test-pg-"))
    server = PrivatePostgres(bin_dir=bin_dir, directory=directory, port=0, run_as=run_as)
    try:
        server.initdb()
        server.start_on_a_free_port()
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)

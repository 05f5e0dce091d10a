"""pytest plugin: a real Celery worker on a private, real Redis, for end-to-end push tests and fault drills.

The Redis is this session's own (a free loopback port), so that a drill can stop and restart the broker, and
so that parallel test sessions never take each other's tasks. The worker is a separate process (``celery -A
portal worker``) on the test database; tests that use it need ``django_db(transaction=True)``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kombu.pools
import pytest
import redis

from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
REDIS_START_ATTEMPTS = 3


def wait_for(condition: Callable[[], object], timeout: float = 60, what: str = "condition") -> object:
    """Poll until condition() is truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@dataclass
class PrivateRedis:
    """A Redis server of this test session; stop() and start() it for broker fault drills."""

    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if not self.try_start():
            pytest.fail(f"this session's Redis could not start on port {self.port} (taken?)")

    def try_start(self) -> bool:
        """Start the server on ``self.port``; False if it exited (the port was taken meanwhile)."""
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        # Another run's Redis on this port answers a ping too: only ours has our process id.
        wait_for(
            lambda: self.process.poll() is not None or _server_pid(client) == self.process.pid,
            timeout=20,
            what=f"Redis on port {self.port}",
        )
        return self.process.poll() is None

    def database_url(self, number: int) -> str:
        """A database of this server other than the workers' broker (0), for a test that fills or empties it."""
        return f"redis://127.0.0.1:{self.port}/{number}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def _server_pid(client: redis.Redis) -> int | None:
    try:
        return int(client.info("server")["process_id"])
    except redis.ConnectionError:
        return None


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory) -> Iterator[PrivateRedis]:
    directory = tmp_path_factory.mktemp("redis")
    # The port is free when chosen, not when Redis binds it: another run may take it in between.
    for _ in range(REDIS_START_ATTEMPTS):
        server = PrivateRedis(port=free_port(), directory=directory)
        if server.try_start():
            break
    else:
        pytest.fail(f"this session's Redis found its port taken {REDIS_START_ATTEMPTS} times")
    yield server
    server.stop()


@contextlib.contextmanager
def publishing_to(url: str) -> Iterator[None]:
    """Make this process publish its tasks to the broker at ``url`` inside the block, then restore.

    Three places hold the broker URL, and Celery's ``conf.broker_url`` reads them in this order: the
    environment variable CELERY_BROKER_URL (scripts/test exports it: it beats anything set on the app), the
    app's configuration, and Django's setting (read lazily, the first time the configuration is used).
    """
    from django.conf import settings

    from portal.celery import app

    app.conf.broker_url  # noqa: B018 - loads the lazy configuration now, so it cannot overwrite ours later
    saved_environ = os.environ.get("CELERY_BROKER_URL")
    saved_setting = settings.CELERY_BROKER_URL
    saved_conf = app.conf.broker_url
    _set_broker(app, url, url, url)
    try:
        yield
    finally:
        _set_broker(app, saved_environ, saved_setting, saved_conf)


def _set_broker(app, environ: str | None, setting: str, conf: str) -> None:
    from django.conf import settings

    if environ is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = environ
    settings.CELERY_BROKER_URL = setting
    app.conf.broker_url = conf
    _reset_pools(app)


def _reset_pools(app) -> None:
    """Forget every broker connection of this process, so the next publish connects to the current URL.

    Celery keeps its pools in kombu's global registries keyed by connection: closing one without clearing
    the registry hands the closed pool out again ("Acquire on closed pool").
    """
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path
    env: dict = field(repr=False)

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, mid-task if it is in one."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_worker(private_redis, django_db_setup, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start a Celery worker process on the test database: ``start_worker(**extra_env) -> Worker``."""
    from django.db import connection

    workers: list[Worker] = []

    def start(*, queues: str = "", **extra_env: str) -> Worker:
        """``queues``: the queues it consumes, comma-separated (default: Celery's default queue)."""
        settings_dict = connection.settings_dict
        if connection.vendor == "sqlite":
            database_url = f"sqlite:///{settings_dict['NAME']}"
        else:
            user = settings_dict.get("USER") or ""
            password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
            database_url = (
                f"postgres://{user}{password}@{settings_dict.get('HOST') or '127.0.0.1'}:"
                f"{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"
            )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": private_redis.url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "RUCIO_TOKEN_DIR": str(tmp_path / f"worker-tokens-{len(workers)}"),
            **extra_env,
        }
        log = tmp_path / f"worker-{len(workers)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "--pool=solo",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    f"--hostname=test{len(workers)}@%h",
                    *([f"--queues={queues}"] if queues else []),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process=process, log=log, env=env)
        workers.append(worker)
        wait_for(
            lambda: "ready." in worker.output() or process.poll() is not None, timeout=60, what="worker start"
        )
        if process.poll() is not None:
            pytest.fail(f"Celery worker exited at start:\n{worker.output()[-3000:]}")
        return worker

    # Publish from this process to the private broker too, through fresh connections.
    with publishing_to(private_redis.url):
        yield start
    for worker in workers:
        worker.stop()

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
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import dj_database_url
import psycopg
import pytest
import requests
from psycopg import sql

from tests.celery_worker import wait_for
from tests.stack import (
    Stack,
    admin_password,
    free_port,
    listening,
    log_in,
    process_group_alive,
    release,
    stack_env,
    wait_until_up,
)

pytestmark = [pytest.mark.deploy]

PROCESSES = ("web.1", "worker.1", "prober.1", "beat.1")
HONCHO_RC_AFTER_SIGTERM = 143


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


@pytest.fixture
def stack(deploy_database, private_redis, rucio_server, tmp_path) -> Iterator[Stack]:
    port = free_port()
    env = stack_env(
        database_url=deploy_database,
        # A database of the private Redis that no other test's worker reads.
        broker_url=private_redis.url.rsplit("/", 1)[0] + "/7",
        rucio_server=rucio_server,
        directory=tmp_path,
        port=port,
    )
    deployed = Stack(env=env, log=tmp_path / "honcho.log", port=port)
    try:
        yield deployed
    finally:
        deployed.kill_everything()


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

    returncode = stack.stop(timeout=30)
    assert returncode == HONCHO_RC_AFTER_SIGTERM, stack.output()[-4000:]
    # Each process stopped by itself, gracefully: honcho would SIGKILL one still running after 5 s (rc -9).
    assert stack.exit_codes() == dict.fromkeys(PROCESSES, 0), stack.output()[-4000:]
    deadline = time.monotonic() + 10
    while any(process_group_alive(pgid) for pgid in started.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = {name: pgid for name, pgid in started.items() if process_group_alive(pgid)}
    assert not leftovers, f"processes left behind: {leftovers}"
    assert not process_group_alive(stack.process.pid)
    assert not listening(stack.port)


def test_a_gunicorn_worker_freezes_what_it_loaded_so_full_collections_skip_it():
    # gunicorn.conf.py's post_worker_init, in a process of its own (a frozen object stays frozen), on the
    # test settings: what Django, the apps and the URLs loaded is left out of every later full collection.
    code = (
        "import gc, runpy, django\n"
        "django.setup()\n"
        "assert gc.get_freeze_count() == 0\n"
        "runpy.run_path('gunicorn.conf.py')['post_worker_init'](None)\n"
        "print(gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 50_000

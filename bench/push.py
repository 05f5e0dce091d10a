#!/usr/bin/env python
"""Benchmark: push one QoS class onto N RSEs through the portal, against a bare sequential rucio-clients loop.

    .venv/bin/python bench/push.py [--rses 1000] [--rounds 1] [--concurrency N] [--sqlite] [--postgres URL] [--smoke]

Everything it uses is its own and thrown away at the end, also on failure or Ctrl-C: a fresh Rucio server
(scripts/rucio-server, state under a temp dir, a free port), a Redis (a free port), a database (``qos_bench_<pid>``
on PostgreSQL, by default at 127.0.0.1:5432 as user ``postgres``, or a SQLite file when PostgreSQL does not
answer) and a Celery worker process started as tests/celery_worker.py starts it. ``--smoke`` runs it on a few
RSEs only, as the test suite does (tests/test_benchmarks.py): every step and check, no meaningful rates.

In one run it measures

(a) baseline: one ``rucio.client.Client`` calling ``add_rse_attribute(rse, "QOS", "BASELINE")`` for every RSE,
    one after the other;
(c) the limit: the same client sending one ``import_data`` of ``QOS=IMPORT`` for every RSE, Rucio's own bulk
    write, nothing else (no check, no read);
(b) portal: ``RSE.objects.all().assign(SAFE, by=admin)`` committed -> Celery task(s) in the worker process ->
    every push DONE in the database (polled).

Every path really writes (each value differs from the one before); afterwards a separate rucio client checks
that every RSE carries the portal's value. It prints the rates, the portal's ratio to the loop and to the bare
import, the Rucio server's CPU seconds (in all and per RSE) for each path and facts about the machine. Not a
test: nothing here asserts a timing. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUCIO_SCRIPT = ROOT / "scripts" / "rucio-server"
KEY = "QOS"
BASELINE_VALUE = "BASELINE"
IMPORT_VALUE = "IMPORT"
PORTAL_LABEL = "SAFE"
SECOND_LABEL = "FAST"  # the portal's value in every other round
WARM_UP_LABEL = "WARM"
# Where the run's database is created: a libpq URL whose database name is replaced (a password may also come
# from PGPASSWORD, which libpq and so Django's connections read).
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
# Above the sender's BULK_THRESHOLD (10), so that the smoke run takes the bulk path (listing, import, recording).
SMOKE_SIZES = {"rses": 20, "timeout": 120, "rounds": 2}
# The order of the three paths in each round, one further on each time: in three rounds each path runs once
# first, once second and once last.
ROUND_ORDERS = ("acb", "cba", "bac")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# --------------------------------------------------------------------------------------------- services


def start_rucio(state_dir: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    """A fresh Rucio server of this run; returns the KEY=VALUE lines scripts/rucio-server prints."""
    env = {
        **os.environ,
        "RUCIO_SERVER_DIR": str(state_dir),
        "RUCIO_SERVER_USERNAME": "qosbench",
        "RUCIO_SERVER_PASSWORD": f"qosbench-{secrets.token_hex(8)}",
    }
    stack.callback(
        subprocess.run, [str(RUCIO_SCRIPT), "stop"], env=env, capture_output=True, timeout=60, check=False
    )
    for _ in range(3):  # another process may take the free port between the probe and gunicorn's bind
        env["RUCIO_SERVER_PORT"] = str(free_port())
        started = subprocess.run(
            [str(RUCIO_SCRIPT), "start", "--fresh"], env=env, capture_output=True, text=True, timeout=900
        )
        if started.returncode == 0:
            return dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    raise RuntimeError(f"scripts/rucio-server start failed:\n{started.stderr[-3000:]}")


def start_redis(directory: Path, stack: contextlib.ExitStack) -> str:
    """A Redis of this run on a free port; returns its URL (database 0: nobody else's)."""
    import redis

    directory.mkdir()
    executable = shutil.which("redis-server") or "/usr/bin/redis-server"
    for _ in range(3):  # another process may take the free port between the probe and Redis' bind
        port = free_port()
        process = subprocess.Popen(
            [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(_stop_process, process)
        client = redis.Redis(port=port)

        def ours_answers(client: redis.Redis = client, process: subprocess.Popen = process) -> bool:
            # Another Redis on this port answers a ping too: only ours has our process id.
            try:
                return process.poll() is not None or int(client.info("server")["process_id"]) == process.pid
            except redis.ConnectionError:
                return False

        wait_for(ours_answers, 20, f"Redis on port {port}")
        client.close()
        if process.poll() is None:
            return f"redis://127.0.0.1:{port}/0"
    raise RuntimeError("Redis found its port taken 3 times")


def _stop_process(process: subprocess.Popen, group: bool = False) -> None:
    if process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(timeout=10)


def postgres_url(server: str, name: str) -> str:
    """The URL of database ``name`` on the server of URL ``server``."""
    return urllib.parse.urlsplit(server)._replace(path=f"/{name}").geturl()


def postgres_admin(server: str, timeout: int = 3):
    """An autocommit connection to the server's ``postgres`` database, to create and drop databases."""
    import psycopg

    return psycopg.connect(postgres_url(server, "postgres"), autocommit=True, connect_timeout=timeout)


def postgres_where(server: str) -> str:
    parts = urllib.parse.urlsplit(server)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def make_database(tmp: Path, stack: contextlib.ExitStack, sqlite: bool, server: str) -> tuple[str, str]:
    """A throwaway database: (DATABASE_URL, what it is). Dropped when the stack closes."""
    if not sqlite:
        try:
            admin = postgres_admin(server)
        except Exception as error:
            log(
                f"PostgreSQL at {postgres_where(server)} not reachable ({type(error).__name__}); using SQLite"
            )
        else:
            name = f"qos_bench_{os.getpid()}"
            with admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{name}"')
                version = admin.execute("SHOW server_version").fetchone()[0]
            stack.callback(drop_postgres, server, name)
            return postgres_url(server, name), f"PostgreSQL {version} ({postgres_where(server)}, {name})"
    path = tmp / "bench.sqlite3"
    import sqlite3

    return f"sqlite:///{path}", f"SQLite {sqlite3.sqlite_version} ({path})"


def drop_postgres(server: str, name: str) -> None:
    with contextlib.suppress(Exception):  # Django may not even be set up yet
        from django.db import connections

        connections.close_all()
    with postgres_admin(server, timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    log(f"dropped database {name}")


def start_worker(
    env: dict[str, str], log_path: Path, stack: contextlib.ExitStack, concurrency: int
) -> subprocess.Popen:
    """A Celery worker on the bench database, started as tests/celery_worker.py does (``--pool=solo``), or
    with ``concurrency`` prefork processes as the Procfile's worker runs."""
    pool = ["--pool=solo"] if not concurrency else ["--pool=prefork", f"--concurrency={concurrency}"]
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                *pool,
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname=bench@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.callback(_stop_process, process, True)
    wait_for(
        lambda: "ready." in log_path.read_text(errors="replace") or process.poll() is not None,
        60,
        "the Celery worker to start",
    )
    if process.poll() is not None:
        raise RuntimeError(f"the Celery worker exited at start:\n{log_path.read_text()[-3000:]}")
    return process


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU time used so far by a process (and by its child processes: gunicorn's workers)."""
    pids = [pid]
    if children:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        pids += [int(child) for child in found.split()]
    total = 0
    for one in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    """One path of one round: its wall time and the CPU seconds it cost."""

    seconds: float = 0.0
    server: float = 0.0  # the Rucio server's
    client: float = 0.0  # the client's: this process in (a) and (c), the Celery worker in (b)
    detail: str = ""


@contextlib.contextmanager
def measuring(server_pid: int, client_pid: int, children: bool = True) -> Iterator[Measured]:
    """Time the block, and the CPU the Rucio server and the client spent in it."""
    measured = Measured()
    server, client = cpu_seconds(server_pid), cpu_seconds(client_pid, children=children)
    t0 = time.perf_counter()
    yield measured
    measured.seconds = time.perf_counter() - t0
    measured.server = cpu_seconds(server_pid) - server
    measured.client = cpu_seconds(client_pid, children=children) - client


# --------------------------------------------------------------------------------------------- rucio


def rucio_client(rucio: dict[str, str], token_dir: Path, timeout: float = 60):
    """A plain rucio-clients Client with its own token cache (never the per-user default one); ``timeout``:
    seconds a request may take (the bare import of 10,000 RSEs takes minutes on a loaded machine)."""
    from rucio.client.client import Client

    cls = type("BenchClient", (Client,), {"TOKEN_PATH_PREFIX": f"{token_dir}/.rucio_"})
    return cls(
        rucio_host=rucio["RUCIO_URL"],
        auth_host=rucio["RUCIO_URL"],
        account="root",
        auth_type="userpass",
        creds={"username": rucio["RUCIO_USERNAME"], "password": rucio["RUCIO_PASSWORD"]},
        vo="def",
        timeout=timeout,
    )


def create_rses(client, names: list[str]) -> None:
    """Create the RSEs with Rucio's import API (a few hundred per request)."""
    for start in range(0, len(names), 250):
        client.import_data({"rses": {name: {"rse_type": "DISK"} for name in names[start : start + 250]}})
    existing = {rse["rse"] for rse in client.list_rses()}
    if missing := set(names) - existing:
        raise RuntimeError(f"{len(missing)} RSEs were not created, e.g. {sorted(missing)[:3]}")


def rses_carrying(client, names: list[str], value: str) -> list[str]:
    """The RSEs whose attribute KEY is value, read one by one (not through the portal)."""
    return [name for name in names if str(client.list_rse_attributes(name).get(KEY)) == value]


# --------------------------------------------------------------------------------------------- the run


def environment_facts(db_description: str, rucio: dict[str, str], concurrency: int) -> list[tuple[str, str]]:
    from importlib.metadata import version

    import requests

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    redis_version = subprocess.run(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--version"], capture_output=True, text=True
    ).stdout.split()
    redis_version = next((part.split("=", 1)[1] for part in redis_version if part.startswith("v=")), "?")
    server_version = requests.get(f"{rucio['RUCIO_URL']}/ping", timeout=10).json()["version"]
    return [
        ("cores", f"{os.cpu_count()} ({usable} usable), {cpu}"),
        ("database", db_description),
        ("Rucio server", f"rucio {server_version}, gunicorn 1 worker x 4 threads, SQLite, on loopback"),
        ("Rucio client", f"rucio-clients {version('rucio-clients')}"),
        (
            "broker / worker",
            f"Redis {redis_version}; Celery {version('celery')}, "
            + (
                f"--pool=prefork --concurrency={concurrency}"
                if concurrency
                else "1 worker process, --pool=solo"
            ),
        ),
        ("Python", f"{platform.python_version()} on {platform.platform()}"),
    ]


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="qos-bench-push-"))
    stack.callback(shutil.rmtree, tmp, True)
    for name in [name for name in os.environ if name.startswith("RUCIO_")]:
        os.environ.pop(name)  # no rucio.cfg or RUCIO_* settings of the caller may leak into the clients

    t = time.monotonic()
    log("starting a fresh Rucio server ...")
    rucio = start_rucio(tmp / "rucio", stack)
    log(f"Rucio at {rucio['RUCIO_URL']} ({time.monotonic() - t:.1f} s); starting Redis ...")
    redis_url = start_redis(tmp / "redis", stack)
    db_url, db_description = make_database(tmp, stack, args.sqlite, args.postgres)
    log(f"database: {db_description}")

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DATABASE_URL": db_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            # Each process its own cache, as measured in bench/README.md: a CACHE_URL of the caller would have
            # the worker write table versions into somebody else's Redis.
            "CACHE_URL": "",
            # As deployed: INFO, i.e. the audit line of every push queued (to a file, below, not the report).
            "LOG_LEVEL": "INFO",
            "RUCIO_TOKEN_DIR": str(tmp / "portal-tokens"),
            # The bench's Rucio, as a deployment configures an instance (README, "Configuration"); plain
            # http on loopback.
            "RUCIO_INSTANCES": "BENCH",
            "RUCIO_BENCH_HOST": rucio["RUCIO_URL"],
            "RUCIO_BENCH_USERNAME": rucio["RUCIO_USERNAME"],
            "RUCIO_BENCH_PASSWORD": rucio["RUCIO_PASSWORD"],
            "RUCIO_ALLOW_INSECURE_HTTP": "1",
        }
    )
    import django

    django.setup()
    portal_log = stack.enter_context((tmp / "portal.log").open("a"))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(portal_log)
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db.models import Count

    from portal.choices import Role
    from qos.choices import PushState
    from qos.models import RSE, Push, PushAttempt, RucioInstance, StorageQoSClass
    from qos.rucio_gateway.sync import sync_rses

    t = time.monotonic()
    call_command("migrate", verbosity=0)
    log(f"migrated ({time.monotonic() - t:.1f} s)")

    names = [f"BENCH-{i:05d}" for i in range(args.rses)]
    setup_client = rucio_client(rucio, tmp / "setup-tokens")
    t = time.monotonic()
    create_rses(setup_client, names)
    log(f"created {len(names)} RSEs in Rucio ({time.monotonic() - t:.1f} s)")

    instance = RucioInstance.objects.create(
        name="bench", host=rucio["RUCIO_URL"], account="root", env_prefix="RUCIO_BENCH"
    )
    t = time.monotonic()
    report = sync_rses(instance)
    sync_seconds = time.monotonic() - t
    if len(report.new) != len(names) or RSE.objects.count() != len(names):
        raise RuntimeError(f"sync_rses imported {len(report.new)} RSEs, expected {len(names)}")
    log(f"sync_rses imported {len(report.new)} RSEs ({sync_seconds:.1f} s)")

    author, approver = (User.objects.create_user(username=f"bench-admin{i}") for i in (1, 2))
    for user in (author, approver):
        user.groups.add(Group.objects.get(name=Role.QOS_ADMIN))

    def approved(label: str, title: str) -> StorageQoSClass:
        qos_class = StorageQoSClass.objects.create_draft(
            by=author,
            label=label,
            title=title,
            storage_media="tape",
            access_latency="nearline",
            copies=2,
            cost_tier="low",
        )
        qos_class.propose(by=author)
        qos_class.approve(by=approver)
        return qos_class

    portal_classes = [approved(PORTAL_LABEL, "Safe long-term custody")]
    if args.rounds > 1:  # each round's push differs from the round before's
        portal_classes.append(approved(SECOND_LABEL, "Fast access, one copy"))
    warm_class = approved(WARM_UP_LABEL, "The warm-up push before the clock")
    unsent = [PushState.QUEUED, PushState.SENDING]
    server_pid = int(rucio["RUCIO_SERVER_PID"])
    client = rucio_client(rucio, tmp / "baseline-tokens", timeout=args.timeout)
    checker = rucio_client(rucio, tmp / "checker-tokens")

    # (a) baseline: a bare sequential rucio-clients loop, already logged in.
    def baseline(round_: int) -> Measured:
        value = f"{BASELINE_VALUE}{round_ + 1 if round_ else ''}"
        log(f"(a) baseline: add_rse_attribute({KEY}={value}) on {len(names)} RSEs, one after the other")
        with measuring(server_pid, os.getpid(), children=False) as measured:
            for name in names:
                client.add_rse_attribute(name, KEY, value)
        return measured

    # (c) the limit: one bare import of the same number of values, by the same client.
    def bare_import(round_: int) -> Measured:
        value = f"{IMPORT_VALUE}{round_ + 1 if round_ else ''}"
        log(f"(c) bare import: one import_data of {KEY}={value} on {len(names)} RSEs")
        payload = {"rses": {name: {"attributes": {KEY: value}} for name in names}}
        with measuring(server_pid, os.getpid(), children=False) as measured:
            client.import_data(payload)
        return measured

    client.whoami()
    # (b) the portal: assign + commit -> Celery worker -> every push DONE.
    worker_env = {**os.environ, "LOG_LEVEL": "INFO", "RUCIO_TOKEN_DIR": str(tmp / "worker-tokens")}
    worker_log = tmp / "worker.log"
    worker = start_worker(worker_env, worker_log, stack, args.concurrency)
    # Parity with (a) and (c), whose client is logged in before their clock starts: a running portal's worker
    # has its Rucio token and its sending code loaded, and its web processes their broker connection. One push
    # of another class onto one RSE, through the same path, before the clock; the rounds then overwrite it.
    warm_up = RSE.objects.filter(name=names[0]).assign(warm_class, by=author)[0]
    wait_for(
        lambda: Push.objects.filter(pk=warm_up.pk, state=PushState.DONE).exists(),
        60,
        "the warm-up push to be done",
        interval=0.05,
    )
    wait_for(lambda: _task_times(worker_log.read_text(), 0)[2], 30, "the warm-up task's last log line")

    def portal(round_: int) -> Measured:
        qos_class = portal_classes[round_ % len(portal_classes)]
        log_chars = len(worker_log.read_text())
        before = Push.objects.order_by("-pk").values_list("pk", flat=True).first()
        log(f"(b) portal: assign {qos_class.label} to {len(names)} RSEs -> Celery worker -> pushes done")
        try:
            with measuring(server_pid, worker.pid) as measured:
                wall0 = time.time()
                t0 = time.perf_counter()
                pushes = RSE.objects.all().assign(qos_class, by=author)  # its own transaction: committed
                assigned_seconds = time.perf_counter() - t0

                def finished() -> dict[str, int] | None:
                    # Polled every 10 ms: a look at the (small, partial) index of unsent pushes first, not a
                    # count of the round's pushes by state, which at 10,000 took PostgreSQL's CPU from the
                    # worker and Rucio on the same cores. Polled every 50 ms before, the clock stopped 25 ms
                    # late on average.
                    if Push.objects.filter(pk__gt=before, state__in=unsent).exists():
                        return None
                    states = dict(
                        Push.objects.filter(pk__gt=before)
                        .values_list("state")
                        .annotate(n=Count("pk"))
                        .order_by()
                    )
                    if states.get(PushState.FAILED):
                        raise RuntimeError(f"pushes failed: {states}; first error: {_first_error(Push)}")
                    return states if states.get(PushState.DONE, 0) >= len(pushes) else None

                wait_for(finished, args.timeout, f"{len(pushes)} pushes to be done", interval=0.01)
        except BaseException:
            log("worker log (tail):\n" + worker_log.read_text(errors="replace")[-4000:])
            raise
        outcomes = dict(
            PushAttempt.objects.filter(push__gt=before)
            .values_list("outcome")
            .annotate(n=Count("pk"))
            .order_by()
        )

        # The last push is done a moment before its task ends (it then looks for pushes that waited): the
        # task's "succeeded" line comes after the clock stopped, and the report waits for it.
        def tasks_log() -> str:
            return worker_log.read_text()[log_chars:]  # this round's tasks only

        wait_for(lambda: _task_times(tasks_log(), wall0)[2], 30, "the Celery tasks' last log lines")
        task_seconds, first_received, _ = _task_times(tasks_log(), wall0)
        log(f"push attempts by outcome: {outcomes}")
        faults = PushAttempt.objects.filter(push__gt=before).exclude(error="").values_list("error", flat=True)
        for error in sorted(set(faults[:1000]))[:3]:
            log(f"a retried fault: {error[:300]}")
        # Checked through a separate rucio client, not the portal's records.
        carrying = rses_carrying(checker, names, qos_class.label)
        if len(carrying) != len(names):
            raise RuntimeError(
                f"only {len(carrying)} of {len(names)} RSEs carry {KEY}={qos_class.label} in Rucio"
            )
        log(f"checked: all {len(names)} RSEs carry {KEY}={qos_class.label} in Rucio")
        measured.detail = (
            f"assign() and commit {assigned_seconds:.2f} s; first task received by the worker "
            f"{first_received:.2f} s after the start; {len(task_seconds)} Celery task(s) of "
            f"{', '.join(f'{seconds:.2f}' for seconds in task_seconds)} s in the worker; attempts {outcomes}"
        )
        return measured

    paths = {"a": baseline, "c": bare_import, "b": portal}
    rounds: list[dict[str, Measured]] = []
    loads = []
    for round_ in range(args.rounds):
        # Each round one path further on: a drift of the machine or of Rucio's database during the run is not
        # charged to one path.
        order = ROUND_ORDERS[round_ % len(ROUND_ORDERS)]
        loads.append(os.getloadavg()[0])
        if args.rounds > 1:
            log(f"round {round_ + 1} of {args.rounds}: {', '.join(f'({path})' for path in order)}")
        rounds.append({path: paths[path](round_) for path in order})
    client.session.close()

    for round_, measured in enumerate(rounds):
        title = f"Push of one attribute onto {len(names)} RSEs"
        if args.rounds > 1:
            title += f", round {round_ + 1} of {args.rounds} (load average {loads[round_]:.1f} at its start)"
        print()
        print(title)
        report_round(measured, len(names))
    if args.rounds > 1:
        print()
        print(f"Median of the {args.rounds} rounds")
        report_medians(rounds)
    print(f"  setup: sync_rses imported {len(names)} RSEs in {sync_seconds:.2f} s")
    print("Environment")
    facts = environment_facts(db_description, rucio, args.concurrency)
    facts.insert(
        1,
        (
            "load average",
            ", ".join(f"{load:.1f}" for load in loads)
            + f" at the start of each round, {os.getloadavg()[0]:.1f} at the end",
        ),
    )
    for label, value in facts:
        print(f"  {label:<16} {value}")


ROWS = {
    "a": "(a) baseline: sequential add_rse_attribute",
    "c": "(c) limit: one bare import_data",
    "b": "(b) portal: assign -> Celery -> all pushes DONE",
}


def report_round(measured: dict[str, Measured], count: int) -> None:
    print(f"  {'path':<50} {'seconds':>8} {'RSEs/s':>8} {'server CPU s':>13} {'ms/RSE':>7}")
    for path, label in ROWS.items():
        one = measured[path]
        print(
            f"  {label:<50} {one.seconds:>8.2f} {count / one.seconds:>8.0f} {one.server:>13.2f} "
            f"{1000 * one.server / count:>7.2f}"
        )
    a, b, c = (measured[path].seconds for path in "abc")
    print(f"  ratio portal / baseline: {a / b:.2f}")
    print(f"  ratio portal / bare import: {c / b:.2f}")
    print(f"  ratio bare import / baseline (the most any path can reach here): {a / c:.2f}")
    print(
        f"  ratio of Rucio server CPU, portal / baseline: {measured['b'].server / measured['a'].server:.2f}"
    )
    print(f"  portal detail: {measured['b'].detail}")
    print(
        f"  CPU seconds: Rucio server {measured['a'].server:.2f} in (a), {measured['c'].server:.2f} in (c), "
        f"{measured['b'].server:.2f} in (b); client {measured['a'].client:.2f} in (a), "
        f"{measured['c'].client:.2f} in (c) (this process), Celery worker {measured['b'].client:.2f} in (b)"
    )


def report_medians(rounds: list[dict[str, Measured]]) -> None:
    """Each ratio's median over the rounds (each round's ratio of its own paths), and the server's CPU."""

    def median_of(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} (rounds: {', '.join(f'{value:.2f}' for value in values)})"

    seconds = [{path: measured[path].seconds for path in "abc"} for measured in rounds]
    print(f"  ratio portal / baseline: {median_of([one['a'] / one['b'] for one in seconds])}")
    print(f"  ratio portal / bare import: {median_of([one['c'] / one['b'] for one in seconds])}")
    print(f"  ratio bare import / baseline: {median_of([one['a'] / one['c'] for one in seconds])}")
    server = [measured["b"].server / measured["a"].server for measured in rounds]
    print(f"  ratio of Rucio server CPU, portal / baseline: {median_of(server)}")
    for path, label in ROWS.items():
        print(
            f"  Rucio server CPU s in {label[:3]}: {median_of([measured[path].server for measured in rounds])}"
        )


def _task_times(log_text: str, wall0: float) -> tuple[list[float], float, bool]:
    """From the worker's log: each send_pushes task's seconds ("Task qos.tasks.send_pushes[<id>] succeeded in
    9.87s: None"), the seconds from ``wall0`` (a time.time()) to the first task received, and whether every
    task received has ended (succeeded, or retried: its retry is a task received again)."""
    # A line starts with its time (portal.settings.LOGGING: "2026-12-05 11:40:00,123 INFO ...").
    received = re.findall(
        r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) .*send_pushes\[[^\]]+\] received", log_text, re.M
    )
    seconds = [
        float(value) for value in re.findall(r"send_pushes\[[^\]]+\] succeeded in ([0-9.]+)s", log_text)
    ]
    ended = len(seconds) + len(re.findall(r"send_pushes\[[^\]]+\] retry:", log_text))
    first = float("nan")
    if received:
        stamp = time.strptime(received[0].split(",")[0], "%Y-%m-%d %H:%M:%S")
        first = time.mktime(stamp) + int(received[0].split(",")[1]) / 1000 - wall0
    return seconds, first, bool(received) and ended >= len(received)


def _first_error(push_model) -> str:
    push = push_model.objects.exclude(last_error="").order_by("pk").first()
    return push.last_error if push else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rses", type=int, default=1000, help="how many RSEs (default 1000)")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even when PostgreSQL answers")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        metavar="URL",
        help=f"the PostgreSQL server to create the run's database on; its database name is not used "
        f"(default {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the pushes")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the three paths this many times, in a rotating order, and report each ratio's median "
        "(default 1)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        metavar="N",
        help="run the worker with N prefork processes (default: one process, --pool=solo, as the tests do)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a quick run that only checks the benchmark still works (the test suite's): "
        f"{' '.join(f'--{name} {value}' for name, value in SMOKE_SIZES.items())} unless given",
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE_SIZES)  # what the command line gives still wins
    args = parser.parse_args()
    if args.rses < 1:
        parser.error("--rses must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    def terminate(signum, frame):
        raise SystemExit(128 + signum)  # so that the cleanup below runs

    signal.signal(signal.SIGTERM, terminate)
    with contextlib.ExitStack() as stack:
        run(args, stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())

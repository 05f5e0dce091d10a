"""The benchmarks of bench/ must not rot: each runs here as a smoke run (``--smoke``: tiny sizes, one short round).

Every step and check of a real run is taken (push.py still reads every RSE back through a separate client;
pages.py still requires a 200 of every page in-process and through gunicorn); the report must have its rows,
with numbers where the rates and ratios go. No timing is asserted: on a smoke run they mean nothing.

Each script runs as a subprocess, as a developer runs it, on the suite's PostgreSQL (a database of its own,
``qos_bench_[pages_]<pid>``) with a Redis, a Rucio server and ports of its own; afterwards no database and no
process of it may be left (every process it starts carries a marker in its environment).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from django.conf import settings

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parent.parent
# Generous: the first run of a fresh checkout creates the Rucio server's virtualenv, or installs wrk.
RUN_TIMEOUT = 600
MARKER = "QOS_BENCH_SMOKE_RUN"
# What the portal and rucio-clients read from the environment: a benchmark sets what it uses itself, and must
# not find the suite's (its test database, the shared Redis of scripts/test) when it does not.
NOT_PASSED_ON = ("DATABASE_", "CACHE_URL", "TABLE_CACHE", "CELERY_", "DJANGO_", "RUCIO_", "OIDC_")
NUMBER = r"[0-9]+(?:\.[0-9]+)?"


@dataclass(frozen=True)
class SuitePostgres:
    """The suite's PostgreSQL server, as a benchmark's ``--postgres`` URL and libpq's password variable."""

    url: str
    password: str

    @classmethod
    def from_settings(cls) -> SuitePostgres | None:
        database = settings.DATABASES["default"]
        if database["ENGINE"] != "django.db.backends.postgresql":
            return None
        host, port = database.get("HOST") or "127.0.0.1", database.get("PORT") or 5432
        user = quote(database.get("USER") or "postgres", safe="")
        if host.startswith("/"):  # a Unix socket directory
            url = f"postgres://{user}@/postgres?{urlencode({'host': host, 'port': port})}"
        else:
            url = f"postgres://{user}@{host}:{port}/postgres"
        return cls(url=url, password=database.get("PASSWORD") or "")

    def databases_named(self, *names: str) -> list[str]:
        with psycopg.connect(self.url, password=self.password or None, autocommit=True) as admin:
            rows = admin.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", [list(names)])
            return [name for (name,) in rows]

    def drop(self, name: str) -> None:
        with psycopg.connect(self.url, password=self.password or None, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class BenchRun:
    pid: int
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"exit {self.returncode}\n--- stdout:\n{self.stdout[-4000:]}\n--- stderr:\n{self.stderr[-6000:]}"
        )


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries the marker: every process a benchmark started, and theirs."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def _stop(pids: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(2)


def run_benchmark(script: str, *args: str, postgres: SuitePostgres | None, tmp_path: Path) -> BenchRun:
    """Run bench/<script> with ``args``; fail the test if it leaves a process, a database or a temp dir."""
    marker = uuid.uuid4().hex
    env = {name: value for name, value in os.environ.items() if not name.startswith(NOT_PASSED_ON)}
    env.update({MARKER: marker, "TMPDIR": str(tmp_path)})
    if postgres:
        args = (*args, "--postgres", postgres.url)
        if postgres.password:
            env["PGPASSWORD"] = postgres.password
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        timed_out = True
        process.send_signal(signal.SIGTERM)  # the scripts clean up on SIGTERM
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
    run = BenchRun(process.pid, process.returncode, stdout, stderr)

    problems = []
    deadline = time.monotonic() + 20  # stopped servers' workers exit just after their master
    while (left := _processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        problems.append(f"processes left running: {left}")
        _stop(left)
    if postgres:
        names = [f"qos_bench_{run.pid}", f"qos_bench_pages_{run.pid}", f"qos_bench_cpu_{run.pid}"]
        for name in postgres.databases_named(*names):
            problems.append(f"database left: {name}")
            postgres.drop(name)
    if leftovers := sorted(path.name for path in tmp_path.glob("qos-bench-*")):
        problems.append(f"temporary directories left: {leftovers}")
    if timed_out:
        problems.insert(0, f"no result within {RUN_TIMEOUT} s")
    assert not problems, "; ".join(problems) + "\n" + run.describe()
    return run


def report_row(run: BenchRun, pattern: str) -> re.Match:
    """The line of the report (stdout) that matches ``pattern`` in full."""
    match = re.search(rf"^{pattern}$", run.stdout, re.MULTILINE)
    assert match, f"no line of the report matches {pattern!r}\n{run.describe()}"
    return match


def test_push_benchmark_smoke_run(tmp_path: Path) -> None:
    postgres = SuitePostgres.from_settings()
    run = run_benchmark(
        "push.py", "--smoke", *([] if postgres else ["--sqlite"]), postgres=postgres, tmp_path=tmp_path
    )

    assert run.returncode == 0, run.describe()
    # Two rounds (--smoke), each with its table, then the medians.
    for round_ in (1, 2):
        report_row(
            run, rf"Push of one attribute onto 20 RSEs, round {round_} of 2 \(load average {NUMBER} .*\)"
        )
    # seconds, RSEs/s, the Rucio server's CPU seconds in all and per RSE
    for path in (
        r"\(a\) baseline: sequential add_rse_attribute",
        r"\(c\) limit: one bare import_data",
        r"\(b\) portal: assign -> Celery -> all pushes DONE",
    ):
        assert len(re.findall(rf"^  {path} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}$", run.stdout, re.M)) == 2
    assert len(re.findall(rf"^  ratio bare import / baseline \(.*\): {NUMBER}$", run.stdout, re.M)) == 2
    report_row(run, r"Median of the 2 rounds")
    report_row(run, rf"  ratio portal / baseline: {NUMBER} \(rounds: {NUMBER}, {NUMBER}\)")
    report_row(run, rf"  ratio portal / bare import: {NUMBER} \(rounds: {NUMBER}, {NUMBER}\)")
    # The ceiling of the first (no path through Rucio's API writes faster than one import), and the server's
    # share of the third goal.
    report_row(run, rf"  ratio bare import / baseline: {NUMBER} \(rounds: {NUMBER}, {NUMBER}\)")
    report_row(
        run, rf"  ratio of Rucio server CPU, portal / baseline: {NUMBER} \(rounds: {NUMBER}, {NUMBER}\)"
    )
    for path in "acb":
        report_row(run, rf"  Rucio server CPU s in \({path}\): {NUMBER} \(rounds: {NUMBER}, {NUMBER}\)")
    details = re.findall(
        rf"^  portal detail: .*; first task received by the worker {NUMBER} s after the start; "
        r"1 Celery task\(s\) of .*; attempts (\{.*\})$",
        run.stdout,
        re.M,
    )
    # 20 RSEs: more than the sender's BULK_THRESHOLD, so the bulk path (listing, import, recording) ran.
    assert details == ["{'written': 20}"] * 2, run.describe()
    # Read back through a client of its own, not the portal's records (the run fails otherwise), after each
    # round's push of a value other than the round before's.
    assert "checked: all 20 RSEs carry QOS=SAFE in Rucio" in run.stderr, run.describe()
    assert "checked: all 20 RSEs carry QOS=FAST in Rucio" in run.stderr, run.describe()
    if postgres:
        report_row(run, rf"  database +PostgreSQL .*, qos_bench_{run.pid}\)")
        assert f"dropped database qos_bench_{run.pid}" in run.stderr, run.describe()


PAGES = [
    ("plain Django hello", "/bench/hello/"),
    ("bare Django view", "/bench/bare/"),
    ("dashboard", "/"),
    ("class list", "/qos/"),
    ("RSE list", "/qos/rses/"),
    ("actions board", "/actions/"),
    ("API qos-classes", "/api/v1/qos-classes/"),
    ("API rses", "/api/v1/rses/"),
    ("API requirements", "/api/v1/requirements/"),
    ("API actions", "/api/v1/actions/"),
    ("requirement list", "/requirements/"),
    ("meeting list", "/meetings/"),
    ("push log", "/qos/pushes/"),
]


def smoke_run_on_postgres(script: str, tmp_path: Path) -> BenchRun:
    """``bench/<script> --smoke`` on the suite's PostgreSQL, which the page benchmarks need; exited 0."""
    postgres = SuitePostgres.from_settings()
    if not postgres:
        pytest.skip(f"bench/{script} needs PostgreSQL; the suite runs on SQLite")
    run = run_benchmark(script, "--smoke", postgres=postgres, tmp_path=tmp_path)
    assert run.returncode == 0, run.describe()
    return run


def test_pages_benchmark_smoke_run(tmp_path: Path) -> None:
    run = smoke_run_on_postgres("pages.py", tmp_path)
    report_row(run, r"Pages of a large portal under load: 8 concurrent connections, 1 x 1 s per URL")
    for name, path in PAGES:
        # req/s, p50 ms, p99 ms, ratio to the bare view and to the hello (pooled, and the median of the
        # rounds'), queries cold/warm, KB; no "(n errors)" after them.
        row = report_row(
            run,
            rf"  {re.escape(name)} +{re.escape(path)} +{NUMBER} +{NUMBER} +{NUMBER} +({NUMBER}) +({NUMBER})"
            rf" +({NUMBER}) +\d+/\d+ +{NUMBER}",
        )
        if path == "/bench/bare/":
            assert row.group(1) == "1.00", run.describe()
        if path == "/bench/hello/":
            assert row.group(2) == row.group(3) == "1.00", run.describe()
    report_row(run, r"  portal +scale 0\.01, seed 1; generated in .*")
    report_row(run, r"  cache +Redis .* table cache on")
    assert f"dropped database qos_bench_pages_{run.pid}" in run.stderr, run.describe()


# bench/page_cpu.py measures the bare view, the main pages and the API lists, without the table cache.
CPU_PAGES = PAGES[1:10]


def test_page_cpu_benchmark_smoke_run(tmp_path: Path) -> None:
    run = smoke_run_on_postgres("page_cpu.py", tmp_path)
    report_row(run, r"Without the table cache, in-process, 2 requests per URL, as lg-admin-001")
    for name, path in CPU_PAGES:
        # CPU ms (median batch and least), wall ms, queries, KB.
        report_row(
            run, rf"  {re.escape(name)} +{re.escape(path)} +{NUMBER} +{NUMBER} +{NUMBER} +\d+ +{NUMBER}"
        )
    assert f"dropped database qos_bench_cpu_{run.pid}" in run.stderr, run.describe()

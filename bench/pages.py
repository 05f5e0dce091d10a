#!/usr/bin/env python
"""Benchmark: the main pages and API lists of a large portal under load, against a bare Django view.

    .venv/bin/python bench/pages.py [--scale 1.0] [--seed 1] [--duration 8] [--rounds 3] [--connections 8]
                                    [--postgres URL] [--smoke]

Everything it uses is its own and thrown away at the end, also on failure or Ctrl-C: a PostgreSQL database
(``qos_bench_pages_<pid>``, by default at 127.0.0.1:5432 as user ``postgres``), migrated and filled by
``manage.py generate_load_data`` (at scale 1: 10,000 classes, 1,000 RSEs, 5,000 requirements, 2,000 meetings,
20,000 actions), the static files (collectstatic into a temp dir), a Redis on a free port (``CACHE_URL``, as
production shares one between its web processes: it turns the table cache on; not with ``--no-table-cache``)
and gunicorn, started with the repository's gunicorn.conf.py and production settings (DEBUG off) except for
two things (``bench/settings.py``): no redirect to HTTPS on loopback, and one more URL, ``/bench/bare/``, a
view that does no work. The reference, a plain Django view returning "hello" (``/bench/hello/``, no app, no
middleware, no database: ``bench/hello_settings.py``), is served by a second gunicorn with the same settings.

Logged in as a QoS admin (the session and CSRF cookies, as a browser sends them), ``wrk`` (Debian's package;
installed with apt-get when missing) keeps ``--connections`` requests in flight against each URL in turn, ``--duration``
seconds each, ``--rounds`` times over (the bare view and the hello included in every round), and the script
prints req/s, p50 and p99 latency for each, with the ratio of its req/s to the bare view's and to the plain
Django hello's in the same run. Before the load,
it fetches each URL twice in-process (the table cache empty, then filled) and prints how many SQL queries
each made and the size of the answer. ``--smoke`` runs it on a tiny portal for one short round, as the test
suite does (tests/test_benchmarks.py): every step and check, no meaningful rates.

Not a test: nothing here asserts a timing. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.push import (  # noqa: E402 - after the path: run as a script from anywhere
    DEFAULT_POSTGRES,
    drop_postgres,
    free_port,
    log,
    postgres_admin,
    postgres_url,
    postgres_where,
    start_redis,
    wait_for,
)

HELLO = ("plain Django hello", "/bench/hello/")
BARE = ("bare Django view", "/bench/bare/")
TARGETS = [
    HELLO,
    BARE,
    ("dashboard", "/"),
    ("class list", "/qos/"),
    ("RSE list", "/qos/rses/"),
    ("actions board", "/actions/"),
    ("API qos-classes", "/api/v1/qos-classes/"),
    ("API rses", "/api/v1/rses/"),
    ("API requirements", "/api/v1/requirements/"),
    ("API actions", "/api/v1/actions/"),
]
# Pages people open often that issue 7 does not name; measured with --more.
MORE_TARGETS = [
    ("requirement list", "/requirements/"),
    ("meeting list", "/meetings/"),
    ("push log", "/qos/pushes/"),
]
# The smallest run that still takes every step: every page, generated, fetched and put under load once.
SMOKE_SIZES = {"scale": 0.01, "rounds": 1, "duration": 1, "warmup": 1, "more": True}

# wrk's report, as JSON: its own summary lacks exact percentiles and the count of non-2xx/3xx answers.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d, '
    .. '"socket_errors": %d, "http_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


# --------------------------------------------------------------------------------------------- services


def ensure_wrk() -> str:
    """wrk from Debian, installed with apt-get when missing (as scripts/lib/common.sh installs packages)."""
    found = shutil.which("wrk")
    if found:
        return found
    log("installing Debian's wrk with apt-get ...")
    # Without a terminal (the test suite) sudo must fail at once rather than wait for a password.
    sudo = [] if os.geteuid() == 0 else ["sudo"] if sys.stdin.isatty() else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "wrk"]):
        done = subprocess.run([*sudo, *command], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return shutil.which("wrk") or "/usr/bin/wrk"


def make_database(
    server: str, name: str, stack: contextlib.ExitStack, keep: bool, reuse: bool
) -> tuple[str, str]:
    """A PostgreSQL database of this run: (DATABASE_URL, what it is). Dropped at the end unless ``keep``."""
    try:
        admin = postgres_admin(server)
    except Exception as error:
        raise RuntimeError(
            f"PostgreSQL at {postgres_where(server)} is needed ({type(error).__name__}: {error})"
        ) from None
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not (reuse and exists):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        version = admin.execute("SHOW server_version").fetchone()[0]
    if not keep:
        stack.callback(drop_postgres, server, name)
    return postgres_url(server, name), f"PostgreSQL {version} ({postgres_where(server)}, {name})"


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_gunicorn(env: dict[str, str], log_path: Path, stack: contextlib.ExitStack) -> tuple[str, int]:
    """gunicorn with the repository's gunicorn.conf.py; returns (base URL, its master's pid). The settings are
    ``env``'s DJANGO_SETTINGS_MODULE: the portal's (bench.settings) or the plain hello's."""
    port = free_port()
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env={**env, "BIND": f"127.0.0.1:{port}"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.callback(_stop_process, process)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited at start:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - our loopback
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    wait_for(healthy, 60, "gunicorn to answer /healthz")
    return base, process.pid


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by a process and its children (gunicorn's workers)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    total = 0
    for one in [pid, *(int(child) for child in found.split())]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------- load


@dataclass
class Result:
    """One URL's measurements over every round."""

    name: str
    path: str
    queries: list[int] = field(default_factory=lambda: [0, 0])  # cold, warm
    size: int = 0
    requests: int = 0
    seconds: float = 0.0
    #: Each round's req/s.
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0
    alone_ms: list[float] = field(default_factory=lambda: [0.0, 0.0])
    #: Served by the plain Django gunicorn (the hello), not the portal's.
    reference: bool = False

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ratio_by_round(self, reference: Result) -> float:
        """The median over the rounds of this URL's req/s over ``reference``'s in the same round."""
        return statistics.median(
            mine / theirs if theirs else 0.0 for mine, theirs in zip(self.rates, reference.rates, strict=True)
        )


def fetch(base: str, path: str, cookie: str) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - our own gunicorn on loopback
        base + path, headers={"Cookie": cookie, "Accept": "text/html,*/*"}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect (to the login page, to HTTPS) must show as such, not be followed


def drain(base: str, cookie: str, slots: int) -> None:
    """Wait until gunicorn is idle: wrk stops with requests still in flight, and a slow page's backlog must
    not be measured as the next URL's latency. Idle: as many bare requests at once as gunicorn has threads
    all answer quickly (one quick answer only shows that one thread is free)."""

    def one(_: int) -> float:
        started = time.perf_counter()
        fetch(base, BARE[1], cookie)
        return time.perf_counter() - started

    def idle() -> bool:
        with ThreadPoolExecutor(slots) as pool:
            return max(pool.map(one, range(slots))) < 0.25

    wait_for(idle, 600, "gunicorn to finish the requests left in flight", interval=0.5)


def run_wrk(wrk: str, script: Path, url: str, cookie: str, connections: int, seconds: float) -> dict:
    done = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            "-H",
            f"Cookie: {cookie}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed on {url}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- the run


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="qos-bench-pages-"))
    stack.callback(shutil.rmtree, tmp, True)
    wrk = ensure_wrk()
    db_name = args.database or f"qos_bench_pages_{os.getpid()}"
    db_url, db_description = make_database(args.postgres, db_name, stack, args.keep, args.reuse)
    log(f"database: {db_description}")
    cache_url = ""
    if not args.no_table_cache:
        # As production runs several web processes: a Redis they share (CACHE_URL), which turns the table
        # cache on (common/table_cache.py).
        cache_url = start_redis(tmp / "redis", stack)
        log(f"cache: {cache_url} (table cache on)")

    os.environ.update(portal_environment(db_url, str(tmp / "static"), cache_url))
    os.environ["GUNICORN_LOG_LEVEL"] = "warning"
    if args.workers:
        os.environ["WEB_CONCURRENCY"] = str(args.workers)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal.load_data import Sizes, is_empty

    t = time.monotonic()
    call_command("migrate", verbosity=0)
    log(f"migrated ({time.monotonic() - t:.1f} s)")
    if is_empty():
        sizes = Sizes.at(args.scale)
        log(
            f"generating the portal at scale {args.scale} (seed {args.seed}): {sizes.classes} classes, "
            f"{sizes.rses} RSEs, {sizes.requirements} requirements, {sizes.meetings} meetings, "
            f"{sizes.actions} actions ..."
        )
        t = time.monotonic()
        with open(os.devnull, "w") as quiet:
            call_command("generate_load_data", scale=args.scale, seed=args.seed, stdout=quiet)
        generated = f"generated in {time.monotonic() - t:.1f} s"
    else:
        generated = "reused (--reuse)"
    log(f"portal data {generated}")
    call_command("collectstatic", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have them on a portal in use

    user = get_user_model().objects.get(username="lg-admin-001")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}"

    targets = TARGETS + (MORE_TARGETS if args.more else [])
    if args.only:
        wanted = {path.strip() for path in args.only.split(",")}
        targets = [HELLO, BARE, *(target for target in targets[2:] if target[1] in wanted)]
    results = [Result(name, path, reference=(name, path) == HELLO) for name, path in targets]
    for result in results[1:]:  # not the hello: another Django, with no database
        # Twice: the first request finds the table cache empty (cold), the second one filled (warm).
        for warm in (False, True):
            t = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                response = client.get(result.path)
            if response.status_code != 200:
                raise RuntimeError(f"{result.path} answered {response.status_code} in-process")
            result.queries[warm], result.alone_ms[warm] = len(queries), (time.perf_counter() - t) * 1000
        result.size = len(response.content)
        log(
            f"{result.path}: {result.size / 1024:.0f} KB; cold {result.queries[0]} queries, "
            f"{result.alone_ms[0]:.0f} ms; warm {result.queries[1]} queries, {result.alone_ms[1]:.0f} ms"
        )
    # As a browser sends them once it has loaded a page: the session and the CSRF cookie. Without the latter,
    # every page carrying a form (the header's log-out) makes a new CSRF secret and sets the cookie again.
    csrf = client.cookies.get(settings.CSRF_COOKIE_NAME)
    if csrf is not None:
        cookie += f"; {settings.CSRF_COOKIE_NAME}={csrf.value}"
    connection.close()  # gunicorn's workers have their own

    base, master = start_gunicorn(dict(os.environ), tmp / "gunicorn.log", stack)
    hello_base, _ = start_gunicorn(
        {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.hello_settings"}, tmp / "gunicorn-hello.log", stack
    )
    workers = os.environ.get("WEB_CONCURRENCY") or _gunicorn_default_workers()
    slots = int(workers) * int(os.environ.get("GUNICORN_THREADS", "2"))
    for result in results:
        status, body = fetch(hello_base if result.reference else base, result.path, cookie)
        result.size = result.size or len(body)
        if status != 200:
            raise RuntimeError(f"{result.path} answered {status} through gunicorn:\n{body[:500]!r}")
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)

    if args.warmup > 0:
        log(f"warming up: {args.warmup} s per URL")
        for result in results:
            url = (hello_base if result.reference else base) + result.path
            run_wrk(wrk, script, url, cookie, args.connections, args.warmup)
            drain(base, cookie, slots)
    load = {"start": os.getloadavg()}
    cpu_start = cpu_seconds(master)
    started = time.monotonic()
    for number in range(1, args.rounds + 1):
        log(f"round {number} of {args.rounds}: {args.duration} s per URL, {args.connections} connections")
        # Each round starts one URL further on: on a shared machine the load drifts during a run, and no URL
        # should always come first (or last).
        shift = (number - 1) % len(results)
        for result in results[shift:] + results[:shift]:
            url = (hello_base if result.reference else base) + result.path
            report = run_wrk(wrk, script, url, cookie, args.connections, args.duration)
            seconds = report["duration_us"] / 1e6
            result.requests += report["requests"]
            result.seconds += seconds
            result.rates.append(report["requests"] / seconds if seconds else 0.0)
            result.p50.append(report["p50_us"] / 1000)
            result.p99.append(report["p99_us"] / 1000)
            result.errors += report["socket_errors"] + report["http_errors"]
            drain(base, cookie, slots)
    load["end"] = os.getloadavg()
    gunicorn_cpu = cpu_seconds(master) - cpu_start
    wall = time.monotonic() - started

    hello, bare = results[0], results[1]
    if not bare.requests or not hello.requests:
        raise RuntimeError(
            "the bare view or the hello answered no request under load: nothing to compare with"
        )
    print()
    print(
        f"Pages of a large portal under load: {args.connections} concurrent connections, "
        f"{args.rounds} x {args.duration:g} s per URL"
    )
    header = (
        f"  {'target':<20} {'path':<24} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'hello':>6} "
        f"{'by rnd':>6} {'queries':>8} {'KB':>6}"
    )
    print(header)
    for result in results:
        print(
            f"  {result.name:<20} {result.path:<24} {result.rate:>7.1f} {statistics.median(result.p50):>7.1f} "
            f"{max(result.p99):>7.1f} {result.rate / bare.rate:>6.2f} {result.rate / hello.rate:>6.2f} "
            f"{result.ratio_by_round(hello):>6.2f} "
            f"{f'{result.queries[0]}/{result.queries[1]}':>8} "
            f"{result.size / 1024:>6.1f}" + (f"  ({result.errors} errors)" if result.errors else "")
        )
    print(
        "  ratio: req/s over the bare view's req/s; hello: over the plain Django hello's (no middleware);"
        "\n  by rnd: the median over the rounds of its req/s over the hello's in the same round (a pause that"
        "\n  slows one round of one URL moves it less);"
        "\n  p50: median of the rounds' medians; p99: the worst round's;"
        "\n  queries: of one request in-process before the load, with the table cache empty / filled; KB: its size"
    )
    print("Environment")
    facts = [
        ("cores", _cores()),
        (
            "load average",
            f"{load['start'][0]:.1f} (1 min) / {load['start'][1]:.1f} (5 min) at the start, "
            f"{load['end'][0]:.1f} / {load['end'][1]:.1f} at the end",
        ),
        (
            "gunicorn",
            f"{workers} workers x {os.environ.get('GUNICORN_THREADS', '2')} threads (gthread); "
            f"{gunicorn_cpu:.0f} CPU s in {wall:.0f} s of load",
        ),
        ("database", db_description),
        (
            "cache",
            f"Redis {_redis_version()} shared by the workers ({cache_url}): table cache on"
            if cache_url
            else "each process its own (no CACHE_URL): table cache off",
        ),
        ("portal", f"scale {args.scale}, seed {args.seed}; {generated}"),
        ("load generator", f"wrk, 1 thread, {args.connections} connections, logged in as {user.username}"),
        ("Python", f"{platform.python_version()}, Django {django.get_version()}, on {platform.platform()}"),
    ]
    for label, value in facts:
        print(f"  {label:<15} {value}")


def _redis_version() -> str:
    found = subprocess.run(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--version"], capture_output=True, text=True
    ).stdout.split()
    return next((part.split("=", 1)[1] for part in found if part.startswith("v=")), "?")


def _gunicorn_default_workers() -> str:
    import multiprocessing

    return str(min(2 * multiprocessing.cpu_count() + 1, 8))


def _cores() -> str:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{os.cpu_count()} ({usable} usable), {cpu}"


def portal_environment(db_url: str, static_root: str, cache_url: str) -> dict[str, str]:
    """The environment the portal runs with in a page benchmark: the production settings through
    bench/settings.py, DEBUG off, a fresh SECRET_KEY; the table cache on only with a shared ``cache_url``."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DATABASE_URL": db_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
        "CACHE_URL": cache_url,
        "TABLE_CACHE": "1" if cache_url else "0",
        # No page sends a task; should one ever, it must stay in this run, not reach the default broker (a
        # Redis at 127.0.0.1:6379 that may be somebody else's).
        "CELERY_BROKER_URL": "memory://",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size of the generated portal (default 1.0)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated portal (default 1)")
    parser.add_argument(
        "--duration", type=float, default=8, help="seconds of load per URL and round (default 8)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="times over every URL (default 3)")
    parser.add_argument(
        "--warmup", type=float, default=2, help="seconds of load per URL before measuring (0: none)"
    )
    parser.add_argument("--connections", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's)"
    )
    parser.add_argument("--more", action="store_true", help="also the requirement list, meetings, push log")
    parser.add_argument(
        "--no-table-cache",
        action="store_true",
        help="no Redis, so no table cache: every page computed every time (each process its own cache)",
    )
    parser.add_argument("--only", help="comma-separated paths to measure (the bare view is always measured)")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        metavar="URL",
        help=f"the PostgreSQL server to create the database on; its database name is not used "
        f"(default {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--database", help="database name (default qos_bench_pages_<pid>)")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument(
        "--reuse", action="store_true", help="use the database as it is if it exists (with --keep)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick run that only checks the benchmark still works (the test suite's): "
        + " ".join(
            f"--{name}" if value is True else f"--{name} {value}" for name, value in SMOKE_SIZES.items()
        )
        + " unless given",
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE_SIZES)  # what the command line gives still wins
    args = parser.parse_args()
    if args.scale <= 0 or args.duration <= 0 or args.rounds < 1 or args.connections < 1:
        parser.error("--scale and --duration must be more than 0, --rounds and --connections at least 1")

    def terminate(signum, frame):
        raise SystemExit(128 + signum)  # so that the cleanup below runs

    signal.signal(signal.SIGTERM, terminate)
    with contextlib.ExitStack() as stack:
        run(args, stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""In-process CPU cost of the main pages and API lists *without the table cache*: CPU ms and queries per request.

    .venv/bin/python bench/page_cpu.py [--database NAME [--keep]] [--scale 1.0] [--seed 1] [--requests 20]
                                       [--only PATHS] [--profile PATH] [--save DIR] [--postgres URL] [--smoke]

The production settings as bench/pages.py runs them with ``--no-table-cache`` (``bench.settings``, DEBUG off,
no CACHE_URL, so each process its own cache, the table cache and the page cache off, sessions in PostgreSQL),
a database filled by ``manage.py generate_load_data`` (``--database NAME`` with ``--keep`` keeps it and uses it
again when it already holds the portal), and Django's test ``Client`` (its handler is Django's own
``BaseHandler``, every middleware included) logged in as the QoS admin ``lg-admin-001``, with the session and
CSRF cookies a browser sends. Each URL is fetched once to warm up, then ``--requests`` times in five batches;
the script prints the CPU time of this process per request (``time.process_time``: the portal's Python, not
PostgreSQL's work, which is another process), the median batch's and the least one's, the wall time, the
queries and the answer's size. ``--save DIR`` also writes each answer there, to compare what two trees show;
``--profile PATH`` prints cProfile's top functions (CPU clock) for that URL instead. ``--smoke``: a tiny portal
(scale 0.01) in a database of its own, dropped at the end, one request per batch.

This is the method behind bench/README.md's "Without the table cache". Not a test: nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import HELLO, TARGETS, make_database, portal_environment  # noqa: E402 - after the path: run as a script from anywhere
from bench.push import DEFAULT_POSTGRES, log  # noqa: E402

# The bare view (bench/urls.py) as the floor: what any request costs. Not the hello: another Django.
URLS = [target for target in TARGETS if target != HELLO]
BATCHES = 5


def setup(args: argparse.Namespace, stack: contextlib.ExitStack):
    """Settings, database and a logged-in client."""
    name = args.database or f"qos_bench_cpu_{os.getpid()}"
    static = tempfile.mkdtemp(prefix="qos-bench-cpu-")  # the manifest the production settings' storage needs
    stack.callback(shutil.rmtree, static, True)
    db_url, description = make_database(args.postgres, name, stack, keep=args.keep, reuse=True)
    # As bench/pages.py --no-table-cache: no shared cache, table cache off.
    os.environ.update(portal_environment(db_url, static, cache_url=""))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from portal.load_data import is_empty

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    if is_empty():
        log(f"generating the portal at scale {args.scale} (seed {args.seed}) in {name} ...")
        with open(os.devnull, "w") as quiet:
            call_command("generate_load_data", scale=args.scale, seed=args.seed, stdout=quiet)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    log(f"database: {description}")
    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT="text/html,application/json;q=0.9,*/*;q=0.8")
    client.force_login(get_user_model().objects.get(username="lg-admin-001"))
    stack.callback(connection.close)  # before the database is dropped
    return client


def get(client, path: str):
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}")
    return response


def measure(client, path: str, requests: int) -> tuple[float, float, float, int, int]:
    """(CPU ms, its least, wall ms, queries, bytes) per request: the median of five batches (and the least
    batch's CPU: on a machine others load too, the least disturbed estimate)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        size = len(get(client, path).content)  # also the warm-up: the CSRF cookie, the URL resolver
    count = len(queries)  # now: it reads the connection's log, which a reconnection clears
    cpu, wall = [], []
    for _ in range(BATCHES):
        started_cpu, started = time.process_time(), time.perf_counter()
        for _ in range(max(1, requests // BATCHES)):
            get(client, path)
        done = max(1, requests // BATCHES)
        cpu.append((time.process_time() - started_cpu) * 1000 / done)
        wall.append((time.perf_counter() - started) * 1000 / done)
    return statistics.median(cpu), min(cpu), statistics.median(wall), count, size


def profile(client, path: str, requests: int, top: int = 40) -> None:
    get(client, path)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        get(client, path)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="database name (default qos_bench_cpu_<pid>, dropped at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the database (and use it again next time)")
    parser.add_argument("--scale", type=float, default=1.0, help="size of the generated portal (default 1.0)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=20, help="requests per URL (default 20)")
    parser.add_argument("--only", help="comma-separated paths to measure")
    parser.add_argument("--profile", metavar="PATH", help="print cProfile's top functions for this URL")
    parser.add_argument(
        "--save", metavar="DIR", help="also write each answer to DIR (to compare two trees' pages and lists)"
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, metavar="URL")
    parser.add_argument("--smoke", action="store_true", help="scale 0.01, 2 requests per URL, own database")
    args = parser.parse_args()
    if args.smoke:
        args.scale, args.requests, args.database, args.keep = 0.01, 2, None, False

    with contextlib.ExitStack() as stack:
        client = setup(args, stack)
        if args.profile:
            profile(client, args.profile, args.requests)
            return 0
        urls = URLS
        if args.only:
            wanted = {path.strip() for path in args.only.split(",")}
            urls = [url for url in URLS if url[1] in wanted]
        print(f"Without the table cache, in-process, {args.requests} requests per URL, as lg-admin-001")
        print(
            f"  {'target':<20} {'path':<24} {'CPU ms':>7} {'least':>6} {'wall ms':>8} {'queries':>8} {'KB':>6}"
        )
        for name, path in urls:
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                answer = Path(args.save) / (path.strip("/").replace("/", "_") or "dashboard")
                answer.write_bytes(get(client, path).content)
            cpu, least, wall, queries, size = measure(client, path, args.requests)
            print(
                f"  {name:<20} {path:<24} {cpu:>7.1f} {least:>6.1f} {wall:>8.1f} {queries:>8} {size / 1024:>6.1f}"
            )
        print(f"  load average {os.getloadavg()[0]:.1f}; CPU: this process only (PostgreSQL's is not in it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

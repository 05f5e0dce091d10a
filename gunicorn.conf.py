"""gunicorn's configuration for the portal (``gunicorn portal.wsgi -c gunicorn.conf.py``, the Procfile's ``web``).

Everything comes from environment variables, the same ones the Procfile's other processes read (README,
"Running in production"); ``GUNICORN_CMD_ARGS`` can still override any setting on the command line.

| variable | default | meaning |
| --- | --- | --- |
| ``BIND`` | ``0.0.0.0:$PORT`` if ``PORT`` is set, else ``127.0.0.1:8000`` | comma-separated addresses |
| ``WEB_CONCURRENCY`` | ``2 * cores + 1``, at most 8 | worker processes |
| ``GUNICORN_THREADS`` | ``2`` | threads per worker (each may hold a database connection) |
| ``GUNICORN_TIMEOUT`` | ``30`` | seconds before a silent worker is killed and replaced |
| ``GUNICORN_GRACEFUL_TIMEOUT`` | ``20`` | seconds a stopping worker gets to finish its requests |
| ``FORWARDED_ALLOW_IPS`` | ``127.0.0.1,::1`` | proxies whose ``X-Forwarded-*`` headers are trusted |
| ``GUNICORN_CONTROL_SOCKET`` | empty: no control socket | path of a ``gunicornc`` control socket |
| ``LOG_FORMAT`` | ``plain`` | ``json``: gunicorn's lines too are JSON objects, as the portal's |
| ``PROMETHEUS_MULTIPROC_DIR`` | empty | a directory of its own for the workers' request metrics (emptied at start) |
"""

from __future__ import annotations

import multiprocessing
import os

# Cap the automatic worker count: every worker keeps its own database connections (one per thread, see
# DATABASE_CONN_MAX_AGE), and PostgreSQL's max_connections is shared by every machine. Scale out with machines.
MAX_AUTOMATIC_WORKERS = 8


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"gunicorn.conf.py: {name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise SystemExit(f"gunicorn.conf.py: {name} must be at least 1, not {number}")
    return number


def _bind() -> list[str]:
    if os.environ.get("BIND", "").strip():
        return [address.strip() for address in os.environ["BIND"].split(",") if address.strip()]
    if os.environ.get("PORT", "").strip():
        # PaaS convention (and gunicorn's own default): PORT alone means every interface.
        return [f"0.0.0.0:{os.environ['PORT'].strip()}"]
    return ["127.0.0.1:8000"]


wsgi_app = "portal.wsgi:application"
bind = _bind()
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, MAX_AUTOMATIC_WORKERS))
# More than one thread makes gunicorn use its gthread worker: a slow request (Rucio, IAM) does not hold a
# whole process, and idle keep-alive connections cost no worker.
threads = _int("GUNICORN_THREADS", 2)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = 5  # longer than a load balancer's probe interval is not needed; shorter than its idle timeout

# Off: with the app loaded in the master, a restart of workers (HUP) would not pick up new code, and the
# database connections opened while loading would be shared by forked workers.
preload_app = False

# Logs: access log on stdout, errors on stderr, both collected by the process manager (honcho, systemd).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Never the query string: it may carry a token or a search a user would not want in a log. Last, the request id
# the portal gave the request (common/logs.py), as in its own log lines.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" [%({x-request-id}o)s]'


class _LogFields:
    """LOG_FORMAT=json: an access line's facts as JSON fields; "-" as the request id of gunicorn's own lines."""

    def filter(self, record) -> bool:
        atoms = record.args if isinstance(record.args, dict) else {}
        record.request_id = atoms.get("{x-request-id}o", "-")
        if "s" in atoms:
            record.method, record.path, record.status = atoms["m"], atoms["U"], atoms["s"]
            record.duration_ms = atoms["M"]
        return True


if os.environ.get("LOG_FORMAT", "").strip() == "json":
    # gunicorn's own lines in the same JSON as the portal's (common.logs.JsonFormatter, LOG_FORMAT).
    logconfig_dict = {
        "root": {"level": "INFO", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
        "filters": {"fields": {"()": _LogFields}},
        "formatters": {"json": {"()": "common.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["fields"],
                "stream": "ext://sys.stdout",
            },
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["fields"],
                "stream": "ext://sys.stderr",
            },
        },
    }

# Only these proxies may set X-Forwarded-For/-Proto for gunicorn (Django's own switch is USE_X_FORWARDED_PROTO).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn 25+ opens a control socket by default at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl): a second gunicorn of the same user (another site, a test) would fight over it.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"].strip()

# Heartbeat files in memory: a container's /tmp may be on a slow or overlay file system.
if os.path.isdir("/dev/shm"):  # noqa: S108 - gunicorn's documented recommendation, not a temp file
    worker_tmp_dir = "/dev/shm"  # noqa: S108


# PROMETHEUS_MULTIPROC_DIR (portal/metrics.py): every worker keeps its request metrics in files there, and a
# scrape adds them up. A directory of this gunicorn's own: emptied at start, so a restart begins at zero.
def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# A request the portal refuses unread (413, body over the upload limits) is answered with "Connection: close":
# gunicorn would otherwise announce keep-alive and then close the connection (common/uploads.py says why).
def pre_request(worker, req) -> None:
    from common.uploads import close_if_refused_unread  # Django is set up in the worker by now

    close_if_refused_unread(req)


# A full garbage collection walks every object the process holds, most of them Django's, the apps' and the
# libraries' own, loaded once and never freed: 45 ms per collection for a loaded worker on the development
# machine, during which both of its threads wait (bench/README.md, p99). Frozen once loaded, they are left out.
def post_worker_init(worker) -> None:
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - loaded now, to be frozen with the rest
    gc.collect()
    gc.freeze()

"""``/metrics`` for Prometheus: request latencies of this web process, and the portal's state from the database.

Latencies are counted in each process by :class:`RequestMetricsMiddleware`. Under gunicorn, several worker
processes serve one machine: with ``PROMETHEUS_MULTIPROC_DIR`` set (a directory of its own, which
gunicorn.conf.py empties at start), prometheus_client keeps their counts in files there and a scrape adds up
every worker's. What the database holds (classes, RSEs by sync state, pushes by state, attempts by outcome,
the outbox's age, each RSE's capacity) is read when scraped by :class:`PortalCollector`, in a fixed number
of queries, so every web machine reports the same values; so is the length of the Celery queue in Redis,
when Redis answers.

Not public: a scrape needs ``Authorization: Bearer <METRICS_TOKEN>``, or a logged-in QoS admin.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# Who may read /metrics in a browser: QoS admins (the role that runs the push to Rucio).
PERMISSION = "qos.push_rse"

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time from a request reaching Django to its response, by view, method and status.",
    ["view", "method", "status"],
    # Finer below 200 ms: the portal aims at a p99 under 200 ms.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf")),
)


class RequestMetricsMiddleware:
    """Time every request into :data:`REQUEST_DURATION`, labelled by URL name (never by path: bounded)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_DURATION.labels(
            view=view_label(request),
            method=request.method if request.method in METHODS else "other",
            status=str(response.status_code),
        ).observe(time.perf_counter() - started)
        return response


def view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        # No view ran: no URL matched (404), or a middleware answered first (HTTPS redirect, ...).
        return "none"
    return match.view_name or match._func_path


# --- What the database (and the broker) say, read at scrape time. -------------------------------------------
class PortalCollector:
    """The catalogue, the RSEs, the pushes, the probes and the queues, as they are now: a fixed number of queries,
    whatever the rows."""

    def collect(self) -> Iterator[Metric]:
        from qos.choices import AttemptOutcome, ClassStatus, PushState, SyncState
        from qos.models import RSE, Push, PushAttempt, RucioInstance, StorageQoSClass

        classes = dict(StorageQoSClass.objects.order_by().values_list("status").annotate(Count("pk")))
        yield _gauge("qos_classes", "Storage QoS classes by status.", "status", ClassStatus.values, classes)

        yield _gauge(
            "qos_rses",
            "RSEs by sync state (in_sync, pending, drifted, failed, unknown).",
            "sync_state",
            SyncState.values,
            RSE.objects.state_counts(),
        )

        pushes = {
            row["state"]: row
            for row in Push.objects.order_by()
            .values("state")
            .annotate(n=Count("pk"), oldest=Min("created_at"))
        }
        yield _gauge(
            "qos_pushes",
            "Pushes by state; queued and sending ones are the outbox waiting for Rucio.",
            "state",
            PushState.values,
            {state: row["n"] for state, row in pushes.items()},
        )
        oldest = pushes.get(PushState.QUEUED, {}).get("oldest")
        yield GaugeMetricFamily(
            "qos_push_outbox_oldest_age_seconds",
            "Age of the oldest queued push (0 when none waits).",
            value=(timezone.now() - oldest).total_seconds() if oldest else 0.0,
        )

        attempts = dict(PushAttempt.objects.order_by().values_list("outcome").annotate(Count("pk")))
        counter = CounterMetricFamily(
            "qos_push_attempts",
            "Attempts at sending a push to Rucio, by outcome (written, unchanged, transient, permanent).",
            labels=["outcome"],
        )
        for outcome in AttemptOutcome.values:
            counter.add_metric([outcome], attempts.get(outcome, 0))
        yield counter

        synced = GaugeMetricFamily(
            "qos_rucio_instance_last_sync_timestamp_seconds",
            "When RSEs were last imported from each enabled Rucio instance (Unix time; 0: never).",
            labels=["instance"],
        )
        for name, last_synced_at in RucioInstance.objects.filter(enabled=True).values_list(
            "name", "last_synced_at"
        ):
            synced.add_metric([name], last_synced_at.timestamp() if last_synced_at else 0.0)
        yield synced

        yield from rse_capacity_metrics(RSE)

        yield from conformance_metrics()

        yield from celery_queue_metrics()


CAPACITY_GAUGES = (
    ("qos_rse_usable_bytes", "usable_bytes", "Free space minus Rucio's MinFreeSpace, per RSE, in bytes."),
    ("qos_rse_free_bytes", "capacity_free_bytes", "Free space Rucio reports, per RSE, in bytes."),
    ("qos_rse_total_bytes", "capacity_total_bytes", "Total space Rucio reports, per RSE, in bytes."),
)


def rse_capacity_metrics(rse_model) -> Iterator[Metric]:
    """Capacity of every RSE Rucio still lists, labelled by instance and RSE (as many series as RSEs: a few
    hundred). An unknown figure has no sample: a missing series, never a 0 that reads as "full"."""
    families = [
        (GaugeMetricFamily(name, documentation, labels=["instance", "rse"]), attribute)
        for name, attribute, documentation in CAPACITY_GAUGES
    ]
    rses = (
        rse_model.objects.filter(missing_in_rucio=False, capacity_free_bytes__isnull=False)
        .select_related("instance")
        .only(
            "name", "instance__name", "capacity_free_bytes", "capacity_min_free_bytes", "capacity_total_bytes"
        )
        .order_by("instance__name", "name")
    )
    for rse in rses:
        for family, attribute in families:
            value = getattr(rse, attribute)
            if value is not None:
                family.add_metric([rse.instance.name, rse.name], value)
    for family, _ in families:
        yield family


PROBE_GAUGES = (
    (
        "qos_rse_probe_duration_seconds",
        "duration_seconds",
        "How long the RSE's last probe took, clean-up included.",
    ),
    ("qos_rse_probe_write_mbps", "write_mbps", "Write throughput the RSE's last probe measured, in MB/s."),
    ("qos_rse_probe_read_mbps", "read_mbps", "Read throughput the RSE's last probe measured, in MB/s."),
    ("qos_rse_probe_latency_seconds", "latency_seconds", "The whole read of the last probe's small file."),
)


def conformance_metrics() -> Iterator[Metric]:
    """RSEs by conformance verdict (never judged: unknown), and what each RSE's last probe measured, labelled by
    instance and RSE (a failed probe has no throughput or latency sample). Three queries."""
    from qos.choices import Verdict
    from qos.models import Conformance

    yield _gauge(
        "qos_rse_conformance",
        "RSEs by conformance verdict against their class (conforming, degraded, violating, unreachable, unknown).",
        "verdict",
        Verdict.values,
        Conformance.objects.verdict_counts(),
    )
    families = [
        (GaugeMetricFamily(name, documentation, labels=["instance", "rse"]), attribute)
        for name, attribute, documentation in PROBE_GAUGES
    ]
    judged = (
        Conformance.objects.filter(last_probe__isnull=False)
        .select_related("rse__instance", "last_probe")
        .order_by("rse__instance__name", "rse__name")
    )
    for conformance in judged:
        labels = [conformance.rse.instance.name, conformance.rse.name]
        for family, attribute in families:
            value = getattr(conformance.last_probe, attribute)
            if value is not None:
                family.add_metric(labels, value)
    for family, _ in families:
        yield family


def _gauge(name: str, documentation: str, label: str, values: list[str], counts: dict) -> GaugeMetricFamily:
    """Every known value gets a sample, zero included: a state that empties must drop to 0, not vanish."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value in values:
        family.add_metric([value], counts.get(value, 0))
    return family


def celery_queue_metrics() -> Iterator[Metric]:
    """Messages waiting in each Celery queue in Redis (the default one and the probes'); a broker that does not
    answer fails no scrape."""
    from kombu.transport.redis import Channel

    from portal.celery import app

    url = settings.CELERY_BROKER_URL or ""
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://", "unix://")):
        return
    queues = list(dict.fromkeys([app.conf.task_default_queue, settings.QOS_PROBE_QUEUE]))
    up = GaugeMetricFamily("qos_celery_broker_up", "1 when the Celery broker (Redis) answered this scrape.")
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            pipeline = client.pipeline(transaction=False)
            for queue in queues:
                # kombu's Redis transport keeps one list per priority step: "celery", "celery\x06\x163", ...
                for step in Channel.priority_steps:
                    pipeline.llen(queue if step == 0 else f"{queue}{Channel.sep}{step}")
            lengths = pipeline.execute()
        finally:
            client.close()
    except redis.RedisError as error:
        # Info, not warning: Prometheus scrapes often, and qos_celery_broker_up is what alerts.
        logger.info("Celery broker did not answer the metrics scrape: %s", type(error).__name__)
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    length = GaugeMetricFamily(
        "qos_celery_queue_length", "Task messages waiting in each Celery queue in Redis.", labels=["queue"]
    )
    steps = len(Channel.priority_steps)
    for index, queue in enumerate(queues):
        length.add_metric([queue], sum(lengths[index * steps : (index + 1) * steps]))
    yield length


def render() -> bytes:
    """The exposition text: this process's metrics (or every gunicorn worker's), then the portal's state."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(PortalCollector())
    return generate_latest(registry)


# --- The endpoint ----------------------------------------------------------------------------------------------
@login_not_required  # a scraper has a token, not a session; the check below stands for the login
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for ``Authorization: Bearer <METRICS_TOKEN>`` or a logged-in QoS admin."""
    refusal = refuse(request)
    if refusal is not None:
        return refusal
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)


def refuse(request: HttpRequest) -> HttpResponse | None:
    """401 without valid credentials, 403 for a user who is not a QoS admin; None to let them in.

    A request with an Authorization header is judged by it alone: a wrong token is refused even if the
    browser also has an admin's session.
    """
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, given = header.partition(" ")
        expected = settings.METRICS_TOKEN
        # compare_digest: the time taken does not tell how much of a guess was right (bytes: a str with
        # non-ASCII characters would raise).
        if (
            scheme.lower() == "bearer"
            and expected
            and hmac.compare_digest(given.strip().encode(), expected.encode())
        ):
            return None
        return _unauthorized("Wrong metrics token." if expected else "No metrics token is configured.")
    if not request.user.is_authenticated:
        return _unauthorized("Send Authorization: Bearer <METRICS_TOKEN>, or log in as a QoS admin.")
    if not request.user.has_perm(PERMISSION):
        return HttpResponse("Only QoS admins may read the metrics.\n", status=403, content_type="text/plain")
    return None


def _unauthorized(message: str) -> HttpResponse:
    response = HttpResponse(f"{message}\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response

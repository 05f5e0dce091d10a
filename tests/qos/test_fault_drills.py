"""Fault drills of the deployed stack: PostgreSQL restarted, Redis restarted, the worker killed, Rucio unreachable.

After each, every change the portal acknowledged is in Rucio, and nothing was lost or sent twice.

The stack is production's: the Procfile's web, worker and beat, each started by ``honcho start <name>`` as a
process group of its own (so that one can be killed or restarted alone), with production settings from the
environment only (tests/stack.py), on a PostgreSQL server of this session (``private_postgres``, which a drill
restarts), the session's private Redis and the session's real Rucio server. It is started once for the module;
each drill works on RSEs of its own and leaves the stack running for the next. Admins act over HTTP, as a
browser or a script does: the API, and the bulk assignment page.

What the drills set apart from production's defaults, to keep their waits short (what happens is the same):

* ``PUSH_SWEEP_INTERVAL_SECONDS=5`` (60) and ``PUSH_SWEEP_AFTER_SECONDS=15`` (120): the sweeper comes sooner.
* ``PUSH_CLAIM_LEASE_SECONDS``: production's 300, except for the replacement worker of the worker drill (20):
  a killed worker's pushes come back only once their lease has expired.
* ``DRILL_RUCIO_OUTAGE_SECONDS`` (default 45, several retries of the sender) is how long Rucio stays down;
  ``scripts/fault-drills`` runs the drills with 600, the ten minutes of the issue. However long, no push is
  tried more often than production's waits after a fault allow (``PUSH_RETRY_FIRST_SECONDS`` and
  ``PUSH_RETRY_MAX_SECONDS``, production's here): ``attempts_within(outage)``, 4 for 45 s, 9 for 600 s (the issue
  asks for at most 12).

``pytest -m drill`` selects them; they also run in the normal suite (``.ci/run``). With ``-s`` each drill prints
how long its fault lasted and how long after recovery everything had landed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import struct
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from django.conf import settings

from qos.rucio_gateway.sync import RETRY_JITTER, attempts_within
from qos.tasks import send_pushes
from tests.celery_worker import publishing_to, wait_for
from tests.conftest import SAFE_CONTENT
from tests.stack import (
    PROCFILE_PROCESSES,
    Stack,
    admin_password,
    free_port,
    log_in,
    release,
    stack_env,
    wait_until_up,
)

pytestmark = [pytest.mark.drill]

SWEEP_INTERVAL_SECONDS = 5
SWEEP_AFTER_SECONDS = 15
PRODUCTION_LEASE_SECONDS = 300
DRILL_LEASE_SECONDS = 20
RUCIO_OUTAGE_SECONDS = float(os.environ.get("DRILL_RUCIO_OUTAGE_SECONDS") or 45)
POSTGRES_OUTAGE_SECONDS = 10
REDIS_OUTAGE_SECONDS = 15
# Generous: two cores shared with other test sessions. Never a claim about speed, only "it does end".
SLACK_SECONDS = 150


@dataclass
class Deployment:
    """The stack of the drills: one honcho per Procfile process, their environment, the portal's database."""

    env: dict[str, str] = field(repr=False)
    directory: Path
    port: int
    database_url: str
    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    stacks: dict[str, Stack] = field(default_factory=dict)
    started: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def operator(self) -> Stack:
        """For an operator's commands (``manage.py``) with the stack's environment."""
        return Stack(env=self.env, log=self.directory / "operator.log", port=self.port)

    def launch(self, name: str, **extra_env: str) -> Stack:
        """``honcho start <name>`` (not waiting for it to serve); it replaces an earlier one of that name."""
        self.started += 1
        stack = Stack(
            env={**self.env, **extra_env},
            log=self.directory / f"{name}-{self.started}.log",
            port=self.port,
            processes=(name,),
        )
        stack.start()
        self.stacks[name] = stack
        return stack

    def start(self, name: str, **extra_env: str) -> Stack:
        stack = self.launch(name, **extra_env)
        wait_until_up(stack, timeout=SLACK_SECONDS)
        return stack

    def pids(self) -> dict[str, int]:
        """The process id of each Procfile process now running (``web``: gunicorn's master)."""
        return {name: stack.pids()[f"{name}.1"] for name, stack in self.stacks.items()}

    def all_alive(self) -> bool:
        return all(stack.alive() for stack in self.stacks.values())

    def query(self, statement: str, *params: object) -> list[tuple]:
        """The portal's database as it is, read directly (not through the portal)."""
        with psycopg.connect(self.database_url, connect_timeout=5) as connection:
            return connection.execute(statement, params).fetchall()

    @contextlib.contextmanager
    def import_in_flight(self) -> Iterator[None]:
        """Another sender's import to the Rucio instance in flight (its turn held: sync._ImportTurn), for as long
        as the block lasts: a bulk push then waits with its pushes claimed, being sent. A fast Rucio sends a bulk
        of a few dozen RSEs in a fraction of a second, too short a moment for a drill to act in."""
        from qos.rucio_gateway.sync import IMPORT_LOCK_SPACE

        with psycopg.connect(self.database_url, connect_timeout=5, autocommit=True) as holder:
            (instance,) = holder.execute("SELECT id FROM qos_rucioinstance").fetchone()
            holder.execute("SELECT pg_advisory_lock(%s, %s)", (IMPORT_LOCK_SPACE, instance))
            try:
                yield
            finally:
                with contextlib.suppress(psycopg.OperationalError):  # PostgreSQL stopped meanwhile: released
                    holder.execute("SELECT pg_advisory_unlock(%s, %s)", (IMPORT_LOCK_SPACE, instance))

    def logs(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {name} ({stack.log.name}) ---\n" + "\n".join(stack.output().splitlines()[-lines:])
            for name, stack in self.stacks.items()
        )

    def kill_everything(self) -> None:
        for stack in self.stacks.values():
            stack.kill_everything()


@pytest.fixture(scope="module")
def deployment(private_postgres, private_redis, rucio_server, tmp_path_factory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("drill-stack")
    port = free_port()
    database_url = private_postgres.create_database(f"portal_{secrets.token_hex(3)}")
    env = stack_env(
        database_url=database_url,
        # A database of the private Redis of its own: no other test's worker takes these tasks.
        broker_url=private_redis.url.rsplit("/", 1)[0] + "/8",
        rucio_server=rucio_server,
        directory=directory,
        port=port,
        WORKER_CONCURRENCY="2",
        PUSH_SWEEP_INTERVAL_SECONDS=str(SWEEP_INTERVAL_SECONDS),
        PUSH_SWEEP_AFTER_SECONDS=str(SWEEP_AFTER_SECONDS),
        PUSH_CLAIM_LEASE_SECONDS=str(PRODUCTION_LEASE_SECONDS),
        # This process bounds the attempts with the same settings: production's, unless the environment says.
        PUSH_RETRY_FIRST_SECONDS=str(settings.PUSH_RETRY_FIRST_SECONDS),
        PUSH_RETRY_MAX_SECONDS=str(settings.PUSH_RETRY_MAX_SECONDS),
    )
    deployed = Deployment(env=env, directory=directory, port=port, database_url=database_url)
    try:
        operator = deployed.operator()
        with ThreadPoolExecutor() as pool:
            release(operator, pool)
            demo = pool.submit(operator.manage, "loaddemo", "--reset-passwords")
            for name in PROCFILE_PROCESSES:
                deployed.launch(name)
            deployed.passwords = {user: admin_password(demo.result(), user) for user in ("admin", "admin2")}
            for stack in deployed.stacks.values():
                wait_until_up(stack, timeout=SLACK_SECONDS)
        yield deployed
    finally:
        deployed.kill_everything()


@pytest.fixture(autouse=True)
def every_process_running(deployment) -> None:
    """A drill that failed half-way may have left a process stopped: the next one starts with all of them."""
    for name in PROCFILE_PROCESSES:
        if not deployment.stacks[name].alive():
            deployment.start(name)


class Portal:
    """An admin's HTTP session with the deployed portal, as a browser or a script has one."""

    def __init__(self, deployment: Deployment, username: str) -> None:
        self.deployment = deployment
        self.url = deployment.url
        self.session = requests.Session()
        log_in(self.session, deployment.stacks["web"], username, deployment.passwords[username])

    def _headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.session.cookies["csrftoken"]}

    def assign(self, rse: str, label: str | None) -> requests.Response:
        """``PATCH /api/v1/rses/<rse>/``: assign a class (None: unassign)."""
        return self.session.patch(
            f"{self.url}/api/v1/rses/{rse}/", json={"qos_class": label}, headers=self._headers(), timeout=30
        )

    def bulk_assign(self, rses: list[str], label: str | None, *, planned: bool = False) -> None:
        """The RSE list's bulk assignment, confirmed after its plan (one request for every RSE). ``planned``:
        the class awaits approval, and the RSEs get it once it is approved."""
        pushes_before = self.pushes(rses)
        answer = self.session.post(
            f"{self.url}/qos/rses/assign/",
            data={
                "rses": rses,
                "qos_class": label or "",
                "confirm": "True",
                "reason": "fault drill",
                "next": "/healthz",  # the page to go back to: not one whose rendering the drill would depend on
                "csrfmiddlewaretoken": self.session.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=120,
        )
        assert (answer.status_code, answer.headers.get("Location")) == (302, "/healthz"), answer.text[:2000]
        # The page redirects after an error too (with a message): what it did is in the portal's database.
        if planned:
            count = self.deployment.query(
                "SELECT count(*) FROM qos_rse r JOIN qos_storageqosclass c ON c.id = r.planned_class_id "
                "WHERE r.name = ANY(%s) AND c.label = %s",
                rses,
                label,
            )[0][0]
            assert count == len(rses), f"{label} planned on {count} of {len(rses)} RSEs"
        else:
            count = self.pushes(rses) - pushes_before
            assert count == len(rses), f"the bulk assignment wrote {count} pushes for {len(rses)} RSEs"

    def pushes(self, rses: list[str]) -> int:
        return self.deployment.query(
            "SELECT count(*) FROM qos_push p JOIN qos_rse r ON r.id = p.rse_id WHERE r.name = ANY(%s)", rses
        )[0][0]

    def post(self, path: str, body: dict) -> requests.Response:
        return self.session.post(f"{self.url}{path}", json=body, headers=self._headers(), timeout=30)

    def approve(self, label: str) -> requests.Response:
        """Approve a class's proposal as read just before (approvals name the revision reviewed)."""
        read = self.session.get(f"{self.url}/api/v1/qos-classes/{label}/", timeout=30)
        assert read.status_code == 200, read.text
        return self.post(
            f"/api/v1/qos-classes/{label}/approve/",
            {"comment": "drill", "base_revision": read.json()["revision"]},
        )

    def new_proposed_class(self) -> str:
        """A new class, proposed (its approval is the four-eyes step of another admin); its label."""
        label = f"DRILL-{secrets.token_hex(3).upper()}"
        created = self.post("/api/v1/qos-classes/", SAFE_CONTENT | {"label": label, "comment": "drill"})
        assert created.status_code == 201, created.text
        proposed = self.post(f"/api/v1/qos-classes/{label}/propose/", {"comment": "drill"})
        assert proposed.status_code == 200, proposed.text
        return label


@dataclass
class Change:
    """One change an admin asked for: the RSE, the class (None: none), and whether the portal acknowledged it."""

    rse: str
    value: str | None
    acknowledged: bool
    answer: str


class ChangeLog(list):
    """Every change asked for during a drill, in order (appended from several threads: list.append is atomic)."""

    def ask(self, rse: str, value: str | None, call) -> bool:
        try:
            answer = call()
        except requests.RequestException as error:
            self.append(Change(rse, value, False, type(error).__name__))
            return False
        acknowledged = 200 <= answer.status_code < 300
        self.append(Change(rse, value, acknowledged, str(answer.status_code)))
        return acknowledged

    def acknowledge(self, rses: list[str], value: str | None) -> None:
        """Changes of many RSEs at once (a bulk assignment, an approval) that the portal acknowledged."""
        self.extend(Change(rse, value, True, "bulk") for rse in rses)

    def acknowledged_count(self) -> int:
        return sum(change.acknowledged for change in self)


class Toggler(threading.Thread):
    """An admin's script that keeps assigning SAFE, then FAST, then nothing, on some RSEs through the API."""

    VALUES = ("SAFE", "FAST", None)

    def __init__(self, portal: Portal, rses: list[str], changes: ChangeLog) -> None:
        super().__init__(daemon=True)
        self.portal, self.rses, self.changes = portal, rses, changes
        self.stopping = threading.Event()

    def run(self) -> None:
        turn = 0
        while not self.stopping.is_set():
            rse = self.rses[turn % len(self.rses)]
            value = self.VALUES[(turn // len(self.rses)) % len(self.VALUES)]
            turn += 1
            if not self.changes.ask(rse, value, lambda rse=rse, value=value: self.portal.assign(rse, value)):
                self.stopping.wait(0.5)  # as a script backs off while the portal answers errors

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)
        assert not self.is_alive(), "the admin's script did not stop"


def make_rses(make_rse, prefix: str, count: int) -> list[str]:
    return [make_rse(prefix) for _ in range(count)]


def push_states(deployment: Deployment, rses: list[str]) -> Counter:
    """How many pushes of these RSEs are in each state; empty while the database does not answer."""
    try:
        rows = deployment.query(
            "SELECT p.state, count(*) FROM qos_push p JOIN qos_rse r ON r.id = p.rse_id "
            "WHERE r.name = ANY(%s) GROUP BY p.state",
            rses,
        )
    except psycopg.OperationalError:
        return Counter()
    return Counter(dict(rows))


def settled(deployment: Deployment, rses: list[str]) -> bool:
    states = push_states(deployment, rses)
    return bool(states) and not (states["queued"] or states["sending"])


def check_every_change_landed_once(
    deployment: Deployment, rucio_admin_client, changes: ChangeLog, *, within: float
) -> None:
    """The drills' invariant, checked in Rucio (a separate rucio-clients session) and in the portal's database.

    * Nothing lost: no push is left queued or sending (waited for, at most ``within`` seconds), none failed; for
      every RSE, Rucio's QOS is the portal's class, the value of its newest push, and the last change an admin
      was told succeeded (after it, only changes answered with an error, which may or may not have been made).
    * Nothing duplicated: one push per change made (no more than the changes asked for, no fewer than those
      acknowledged); every push sent is finished by exactly one attempt that found Rucio right ("written" or,
      if an attempt cut short had written already, "unchanged"), and no push is ever written twice.
    """
    rses = sorted({change.rse for change in changes})
    wait_for(
        lambda: settled(deployment, rses),
        timeout=within,
        what=f"every push of {len(rses)} RSEs to be sent\n{deployment.logs()}",
    )
    desired = dict(
        deployment.query(
            "SELECT r.name, CASE WHEN c.status IN ('approved', 'deprecated') THEN c.label END "
            "FROM qos_rse r LEFT JOIN qos_storageqosclass c ON c.id = r.qos_class_id WHERE r.name = ANY(%s)",
            rses,
        )
    )
    pushes: dict[str, list[tuple[int, str | None, str]]] = defaultdict(list)
    for push_id, rse, value, state in deployment.query(
        "SELECT p.id, r.name, p.value, p.state FROM qos_push p JOIN qos_rse r ON r.id = p.rse_id "
        "WHERE r.name = ANY(%s) ORDER BY p.id",
        rses,
    ):
        pushes[rse].append((push_id, value or None, state))
    outcomes: dict[int, Counter] = defaultdict(Counter)
    for push_id, outcome in deployment.query(
        "SELECT a.push_id, a.outcome FROM qos_pushattempt a JOIN qos_push p ON p.id = a.push_id "
        "JOIN qos_rse r ON r.id = p.rse_id WHERE r.name = ANY(%s)",
        rses,
    ):
        outcomes[push_id][outcome] += 1
    asked: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        asked[change.rse].append(change)

    problems = []
    for rse in rses:
        in_rucio = rucio_admin_client.list_rse_attributes(rse).get("QOS")
        in_rucio = None if in_rucio is None else str(in_rucio)
        if in_rucio != desired[rse]:
            problems.append(f"{rse}: Rucio has QOS={in_rucio}, the portal {desired[rse]}")
        acknowledged = [change for change in asked[rse] if change.acknowledged]
        last_acknowledged = max(
            (i for i, change in enumerate(asked[rse]) if change.acknowledged), default=None
        )
        if last_acknowledged is not None:
            possible = {change.value for change in asked[rse][last_acknowledged:]}
            if desired[rse] not in possible:
                problems.append(
                    f"{rse}: the portal holds {desired[rse]}, but the last change acknowledged was "
                    f"{asked[rse][last_acknowledged].value} (and after it, unacknowledged: {possible})"
                )
        if not len(acknowledged) <= len(pushes[rse]) <= len(asked[rse]):
            problems.append(
                f"{rse}: {len(pushes[rse])} pushes for {len(acknowledged)} acknowledged changes of "
                f"{len(asked[rse])} asked"
            )
        if not pushes[rse]:
            continue
        newest_id, newest_value, newest_state = pushes[rse][-1]
        if (newest_state, newest_value) != ("done", desired[rse]):
            problems.append(f"{rse}: newest push {newest_id} is {newest_state} with {newest_value}")
        for push_id, _, state in pushes[rse]:
            count = outcomes[push_id]
            finished = count["written"] + count["unchanged"]
            if state not in ("done", "superseded"):
                problems.append(f"{rse}: push {push_id} is {state}")
            if count["written"] > 1 or (state == "done" and finished != 1) or (state != "done" and finished):
                problems.append(f"{rse}: push {push_id} ({state}) finished by attempts {dict(count)}")
    assert not problems, "\n".join(problems) + f"\n{deployment.logs()}"


@contextlib.contextmanager
def rucio_unreachable(rucio_server) -> Iterator[None]:
    """Rucio stopped, and its address answering every connection with a reset.

    The address stays taken meanwhile, so that no other server starts there: another test session's Rucio
    takes the first free port from 18180, and would refuse the portal's credentials (a permanent error).
    """
    rucio_server.stop()
    holder = socket.socket()
    # The stopped server's last connections linger (TIME_WAIT): without this the address could not be taken.
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.settimeout(0.2)
    stopping = threading.Event()

    def reset_every_connection() -> None:
        while not stopping.is_set():
            try:
                connection, _ = holder.accept()
            except TimeoutError:
                continue
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    resetter = threading.Thread(target=reset_every_connection, daemon=True)
    try:
        holder.bind(("127.0.0.1", urlsplit(rucio_server.url).port))
        holder.listen(64)
        resetter.start()
        yield
    finally:
        stopping.set()
        if resetter.is_alive():
            resetter.join()
        holder.close()
        rucio_server.start()


@contextlib.contextmanager
def bulk_assignment_being_sent(
    deployment: Deployment, portal: Portal, changes: ChangeLog, bulk: list[str]
) -> Iterator[None]:
    """SAFE assigned to the ``bulk`` RSEs and the worker seen sending them, held there (another sender's import
    in flight: Deployment.import_in_flight) until the block ends."""
    with deployment.import_in_flight():
        portal.bulk_assign(bulk, "SAFE")
        changes.acknowledge(bulk, "SAFE")
        wait_for(
            lambda: push_states(deployment, bulk)["sending"],
            timeout=SLACK_SECONDS,
            what="the worker to be sending the bulk assignment",
        )
        yield


def drill_report(text: str) -> None:
    print(f"\n[fault drill] {text}", flush=True)  # the drill's account, shown with -s


def test_postgresql_restart_while_admins_change_rses_and_the_worker_pushes(
    deployment, private_postgres, make_rse, rucio_admin_client
):
    toggled = make_rses(make_rse, "DRILL-PG", 6)
    bulk = make_rses(make_rse, "DRILL-PG-BULK", 60)
    deployment.operator().manage("sync_rucio")
    portal = Portal(deployment, "admin")
    before = deployment.pids()
    changes = ChangeLog()
    toggler = Toggler(Portal(deployment, "admin"), toggled, changes)
    toggler.start()
    try:
        wait_for(lambda: changes.acknowledged_count() >= len(toggled), timeout=SLACK_SECONDS, what="changes")
        with bulk_assignment_being_sent(deployment, portal, changes, bulk):
            worker_log_before = len(deployment.stacks["worker"].output())
            private_postgres.stop()  # the turn's holder goes with it
        stopped = time.monotonic()
        try:
            # Load balancers take the web machines out: /healthz answers 503 (not an error page, not a hang).
            wait_for(
                lambda: requests.get(f"{deployment.url}/healthz", timeout=10).status_code == 503,
                timeout=60,
                what="/healthz to answer 503 while PostgreSQL is down",
            )
            time.sleep(max(0.0, POSTGRES_OUTAGE_SECONDS - (time.monotonic() - stopped)))
        finally:
            private_postgres.start()
        drill_report(f"PostgreSQL was down {time.monotonic() - stopped:.0f} s")
        # No process is restarted: each one finds the database again by itself.
        wait_for(
            lambda: requests.get(f"{deployment.url}/healthz", timeout=10).status_code == 200,
            timeout=SLACK_SECONDS,
            what="/healthz to answer 200 again",
        )
        after_restart = changes.acknowledged_count()
        wait_for(
            lambda: changes.acknowledged_count() >= after_restart + 2 * len(toggled),
            timeout=SLACK_SECONDS,
            what="the admin's changes to succeed again",
        )
    finally:
        toggler.stop()
    # The lease is production's 300 s, counted from before the restart: a push the task cut short left
    # claimed would wait for it, and miss this deadline.
    back = time.monotonic()
    deadline = stopped + PRODUCTION_LEASE_SECONDS - 60
    check_every_change_landed_once(deployment, rucio_admin_client, changes, within=deadline - back)
    drill_report(f"every change landed {time.monotonic() - back:.0f} s after the admin's last change")
    # The sweeper says it is back at its first tick after the restart: that tick may come after the changes
    # landed (they need no sweeper), so wait for it rather than read the log at once.
    wait_for(
        lambda: (
            "The push sweeper reaches the database again."
            in deployment.stacks["worker"].output()[worker_log_before:]
        ),
        timeout=SLACK_SECONDS,
        what="the sweeper to say the database is back",
    )
    worker_log = deployment.stacks["worker"].output()[worker_log_before:]
    assert "Database unavailable while sending pushes" in worker_log, "no push was cut short by the restart"
    # Beat's sweeper ran every few seconds meanwhile: one warning for the outage, not a traceback per tick.
    assert worker_log.count("The push sweeper cannot reach the database") == 1, worker_log[-5000:]
    assert worker_log.count("The push sweeper reaches the database again.") == 1, worker_log[-5000:]
    failed_sweeps = [line for line in worker_log.splitlines() if "sweep_pushes[" in line and "raised" in line]
    assert not failed_sweeps, failed_sweeps
    assert deployment.pids() == before, "a process was restarted"
    assert deployment.all_alive()


def test_redis_restart_loses_queued_messages_but_no_change(
    deployment, private_redis, make_rse, rucio_admin_client
):
    toggled = make_rses(make_rse, "DRILL-REDIS", 6)
    planned = make_rses(make_rse, "DRILL-REDIS-PLAN", 12)
    deployment.operator().manage("sync_rucio")
    admin, admin2 = Portal(deployment, "admin"), Portal(deployment, "admin2")
    label = admin.new_proposed_class()
    admin.bulk_assign(planned, label, planned=True)  # pushed once the class is approved
    before = deployment.pids()
    changes = ChangeLog()
    warm_up = Toggler(Portal(deployment, "admin"), toggled, changes)
    warm_up.start()
    try:
        wait_for(lambda: changes.acknowledged_count() >= len(toggled), timeout=SLACK_SECONDS, what="changes")
    finally:
        warm_up.stop()
    wait_for(lambda: settled(deployment, toggled), timeout=SLACK_SECONDS, what="the worker to be idle")
    worker_log_before = len(deployment.stacks["worker"].output())
    # Between two bursts of work, a worker still holds messages it has not acknowledged: a retry waiting out
    # its backoff, like this one. (Celery 5.7.0's worker exited when Redis went away at such a moment.)
    with publishing_to(deployment.env["CELERY_BROKER_URL"]):
        later = send_pushes.apply_async(args=[[]], countdown=SLACK_SECONDS)
    wait_for(
        lambda: f"send_pushes[{later.id}] received" in deployment.stacks["worker"].output(),
        timeout=SLACK_SECONDS,
        what="the worker to hold a task for later",
    )
    private_redis.stop()  # without persistence, as production's: the messages it held are gone
    stopped = time.monotonic()
    during = len(changes)
    toggler = Toggler(Portal(deployment, "admin"), toggled, changes)
    toggler.start()
    try:
        try:
            # The outbox: approvals and assignments still succeed; their pushes wait in the database.
            approved = admin2.approve(label)
            assert approved.status_code == 200, approved.text
            changes.acknowledge(planned, label)
            wait_for(
                lambda: changes.acknowledged_count() >= during + 2 * len(toggled),
                timeout=SLACK_SECONDS,
                what="changes while Redis is down",
            )
            # Long enough for the worker and beat to notice the broker gone, and have to reconnect.
            time.sleep(max(0.0, REDIS_OUTAGE_SECONDS - (time.monotonic() - stopped)))
        finally:
            private_redis.start()
        refused = [change for change in changes[during:] if not change.acknowledged]
        assert not refused, f"changes refused while Redis was down: {refused}"
        assert deployment.all_alive(), f"a process exited when Redis went away:\n{deployment.logs()}"
        drill_report(f"Redis was down {time.monotonic() - stopped:.0f} s")
        after_restart = changes.acknowledged_count()
        wait_for(
            lambda: changes.acknowledged_count() >= after_restart + len(toggled),
            timeout=SLACK_SECONDS,
            what="changes after Redis is back",
        )
    finally:
        toggler.stop()
    back = time.monotonic()
    # The worker and beat reconnect by themselves; the sweeper sends what the lost messages carried.
    check_every_change_landed_once(
        deployment, rucio_admin_client, changes, within=SWEEP_AFTER_SECONDS + SLACK_SECONDS
    )
    drill_report(f"every change landed {time.monotonic() - back:.0f} s after the admin's last change")
    # The changes made while Redis was down never had a message: the sweeper sent them.
    assert "Sweeper re-sent" in deployment.stacks["worker"].output()[worker_log_before:]
    assert deployment.pids() == before, "a process was restarted"
    assert deployment.all_alive()


def test_worker_killed_in_the_middle_of_a_bulk_assignment(deployment, make_rse, rucio_admin_client):
    bulk = make_rses(make_rse, "DRILL-KILL", 120)
    deployment.operator().manage("sync_rucio")
    portal = Portal(deployment, "admin")
    changes = ChangeLog()
    try:
        with bulk_assignment_being_sent(deployment, portal, changes, bulk):
            worker = deployment.stacks["worker"]
            os.killpg(worker.pids()["worker.1"], signal.SIGKILL)  # the worker and its pool, mid-push
        cut_short = [
            push_id
            for (push_id,) in deployment.query(
                "SELECT p.id FROM qos_push p JOIN qos_rse r ON r.id = p.rse_id "
                "WHERE r.name = ANY(%s) AND p.state = 'sending'",
                bulk,
            )
        ]
        # The drill is of a worker killed mid-push: the kill came while pushes were claimed (seen just above).
        assert cut_short, "no push was being sent when the worker was killed: the drill tested nothing"
        assert worker.process.wait(timeout=60) is not None  # honcho ends with its only process
        killed = time.monotonic()
        # The claims of a dead worker are taken back once their lease expires: a short one here.
        deployment.start("worker", PUSH_CLAIM_LEASE_SECONDS=str(DRILL_LEASE_SECONDS))
        check_every_change_landed_once(
            deployment,
            rucio_admin_client,
            changes,
            within=DRILL_LEASE_SECONDS + SWEEP_AFTER_SECONDS + SLACK_SECONDS,
        )
        drill_report(
            f"{len(cut_short)} pushes were being sent when the worker was killed; all {len(bulk)} landed "
            f"{time.monotonic() - killed:.0f} s after the kill"
        )
        retaken = deployment.query(
            "SELECT count(*) FROM qos_push WHERE id = ANY(%s) AND attempts >= 2", cut_short
        )[0][0]
        assert retaken == len(cut_short), (
            f"{len(cut_short) - retaken} of the {len(cut_short)} pushes the killed worker held were not taken again"
        )
    finally:
        # The next drills expect production's lease.
        deployment.stacks["worker"].stop()
        deployment.start("worker")


def test_rucio_unreachable_for_a_long_time_then_everything_lands_once(
    deployment, rucio_server, make_rse, rucio_admin_client
):
    planned = make_rses(make_rse, "DRILL-RUCIO-PLAN", 12)
    assigned = make_rses(make_rse, "DRILL-RUCIO", 5)
    removed = make_rses(make_rse, "DRILL-RUCIO-OFF", 3)
    deployment.operator().manage("sync_rucio")
    admin, admin2 = Portal(deployment, "admin"), Portal(deployment, "admin2")
    label = admin.new_proposed_class()
    admin.bulk_assign(planned, label, planned=True)
    changes = ChangeLog()
    admin.bulk_assign(removed, "SAFE")
    changes.acknowledge(removed, "SAFE")
    wait_for(lambda: settled(deployment, removed), timeout=SLACK_SECONDS, what="SAFE on the RSEs to unassign")
    drill = planned + assigned + removed
    done_before = push_states(deployment, drill)["done"]
    last_push_before = deployment.query("SELECT coalesce(max(id), 0) FROM qos_push")[0][0]
    with rucio_unreachable(rucio_server):
        stopped = time.monotonic()
        approved = admin2.approve(label)
        assert approved.status_code == 200, approved.text
        changes.acknowledge(planned, label)
        for rse in assigned:
            assert changes.ask(rse, "FAST", lambda rse=rse: admin.assign(rse, "FAST")), changes[-1]
        admin.bulk_assign(removed, None)
        changes.acknowledge(removed, None)
        wait_for(
            lambda: deployment.query(
                "SELECT count(*) FROM qos_pushattempt a JOIN qos_push p ON p.id = a.push_id "
                "JOIN qos_rse r ON r.id = p.rse_id WHERE r.name = ANY(%s) AND a.outcome = 'transient'",
                drill,
            )[0][0],
            timeout=SLACK_SECONDS,
            what="the worker to try Rucio",
        )
        time.sleep(max(0.0, RUCIO_OUTAGE_SECONDS - (time.monotonic() - stopped)))
        # Retried all along: none given up for good, none taken for done.
        states = push_states(deployment, drill)
        assert (states["failed"], states["done"]) == (0, done_before), states
    back = time.monotonic()
    outage = back - stopped
    drill_report(f"Rucio was unreachable for {outage:.0f} s")
    # Within a bounded time: the longest wait after a fault, then the task's retry (or the sweeper, which comes
    # every few seconds, for one whose retries ran out).
    longest_wait = settings.PUSH_RETRY_MAX_SECONDS * (1 + RETRY_JITTER)
    check_every_change_landed_once(
        deployment,
        rucio_admin_client,
        changes,
        within=longest_wait + SWEEP_AFTER_SECONDS + SWEEP_INTERVAL_SECONDS + SLACK_SECONDS,
    )
    drill_report(f"every change landed {time.monotonic() - back:.0f} s after Rucio was back")
    # Retried at the pace of its waits, by one sender at a time: as many attempts as the waits allow, no more.
    tries = deployment.query(
        "SELECT p.id, p.attempts, count(a.id) FROM qos_push p JOIN qos_rse r ON r.id = p.rse_id "
        "LEFT JOIN qos_pushattempt a ON a.push_id = p.id WHERE r.name = ANY(%s) AND p.id > %s "
        "GROUP BY p.id, p.attempts",
        drill,
        last_push_before,
    )
    bound = attempts_within(outage)
    most = max(max(attempts, rows) for _, attempts, rows in tries)
    drill_report(
        f"{len(tries)} pushes made {sum(rows for _, _, rows in tries)} attempts, at most {most} each "
        f"(the bound for {outage:.0f} s: {bound})"
    )
    too_many = [(push_id, attempts, rows) for push_id, attempts, rows in tries if max(attempts, rows) > bound]
    assert not too_many, f"pushes tried more than {bound} times (id, attempts, attempt rows): {too_many}"
    if RUCIO_OUTAGE_SECONDS >= 600:
        assert most <= 12, "a ten-minute outage cost a push more than 12 attempts"

"""A large portal for benchmarks: many classes with their histories, RSEs, requirements, meetings and actions.

``manage.py generate_load_data --scale 1.0 --seed 1`` writes, at scale 1, 10,000 Storage QoS classes (about
40,000 revisions), 1,000 RSEs on two Rucio instances (with their pushes and attempts, in every sync state),
5,000 requirements of 50 experiments (with their events, comments and linked classes), 2,000 meetings in ten
series (attendees, timetable, minutes) and 20,000 actions (owners, updates, reviews; some overdue), plus the
accounts and people they need. ``bench/pages.py`` measures the pages against it.

The rows are written with ``bulk_create`` in chunks, so no model method runs: the generator itself keeps the
rules those methods keep (a class's revisions numbered 1..n with ``revision`` the last, a pending change only on
an approved class, four eyes on every approval, an RSE's ``sync_state`` what ``RSE.compute_sync_state()``
says, a satisfied requirement linked to an approved class, closed actions with ``closed_at``, ...).
``tests/portal/test_load_data.py`` checks them on the result.

The same seed gives the same portal, relative to the day it runs (due dates and meetings are placed around
today, so that some actions are overdue and some meetings upcoming). Everything runs in one transaction: a
failure leaves nothing behind.
"""

from __future__ import annotations

import datetime
import functools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import Max, Min, OuterRef, Subquery
from django.utils import timezone

from engagement.choices import AccessPattern, RequirementEventKind, RequirementStatus
from engagement.models import (
    ClassLink,
    Contact,
    Experiment,
    Requirement,
    RequirementComment,
    RequirementEvent,
)
from meetings.choices import ActionStatus
from meetings.models import (
    Action,
    ActionReview,
    ActionUpdate,
    Meeting,
    MeetingSeries,
    MinutesSection,
    Person,
    Stream,
    TimetableItem,
)
from qos.choices import (
    AccessLatency,
    AttemptOutcome,
    ClassStatus,
    CostTier,
    GeographicPlacement,
    PushOperation,
    PushState,
    Redundancy,
    RevisionKind,
    StorageMedia,
    SyncState,
)
from qos.models import (
    CONTENT_FIELDS,
    RSE,
    Push,
    PushAttempt,
    RucioInstance,
    StorageQoSClass,
    StorageQoSClassRevision,
)

from .choices import Role

# An unusable password (django.contrib.auth.hashers): nobody logs in with a generated account.
UNUSABLE = UNUSABLE_PASSWORD_PREFIX + "generated"

# Rows per INSERT: large enough to be quick, small enough for PostgreSQL's and SQLite's parameter limits.
CHUNK = 1000

# What is counted to decide whether a database already holds a portal's data (streams and roles are created by
# the migrations themselves and do not count).
DOMAIN_MODELS: tuple[type[models.Model], ...] = (
    StorageQoSClass,
    RSE,
    Experiment,
    Requirement,
    MeetingSeries,
    Meeting,
    Action,
    Person,
)


class NotEmpty(Exception):
    """The database already holds portal data and ``force`` was not given."""


@dataclass(frozen=True)
class Sizes:
    """How many of each thing to generate."""

    classes: int
    rses: int
    requirements: int
    meetings: int
    actions: int
    experiments: int
    people: int
    admins: int
    coordinators: int
    members: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        """The sizes of issue 7's large portal (10,000 classes, 1,000 RSEs, ...) times ``scale``."""

        def n(full: int, least: int = 1) -> int:
            return max(least, round(full * scale))

        return cls(
            classes=n(10_000, 10),
            rses=n(1_000, 5),
            requirements=n(5_000, 10),
            meetings=n(2_000, 4),
            actions=n(20_000, 20),
            experiments=n(50, 4),
            people=n(600, 10),
            admins=n(20, 2),
            coordinators=n(10, 1),
            members=n(100, 2),
        )

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Report:
    """What was written: the name prefix of this run and a count per model."""

    prefix: str
    counts: dict[str, int]


def is_empty() -> bool:
    return not any(model.objects.exists() for model in DOMAIN_MODELS)


def generate(
    scale: float = 1.0, seed: int = 1, *, force: bool = False, now: datetime.datetime | None = None
) -> Report:
    """Generate a large portal into the current database (see the module's docstring).

    Raises :class:`NotEmpty`, and writes nothing, when the database already holds portal data, unless ``force``:
    then this run's names get a prefix of their own (``LG2-...``) so that they clash with nothing there.
    """
    if scale <= 0:
        raise ValueError("The scale must be more than 0.")
    if not is_empty() and not force:
        raise NotEmpty(
            "The database already holds portal data (classes, RSEs, requirements, meetings or actions). "
            "Generate into an empty database, or pass --force to add to it."
        )
    with transaction.atomic():
        return _Generator(Sizes.at(scale), seed, now or timezone.now()).run()


def _chunked_create(model: type[models.Model], rows: Iterable[models.Model]) -> list[Any]:
    return model.objects.bulk_create(list(rows), batch_size=CHUNK)


# --- vocabulary ----------------------------------------------------------------------------------------------
CLASS_WORDS = ("SAFE", "FAST", "CHEAP", "ARCHIVE", "ANALYSIS", "CUSTODIAL", "SCRATCH", "BULK", "HOT", "COLD")
ADJECTIVES = ("Safe", "Fast", "Cheap", "Long-term", "Analysis", "Custodial", "Scratch", "Bulk", "Hot", "Cold")
SITES = (
    ("CERN", "CH"),
    ("DESY", "DE"),
    ("INFN-CNAF", "IT"),
    ("IN2P3-CC", "FR"),
    ("PIC", "ES"),
    ("SURF", "NL"),
    ("GSI", "DE"),
    ("LAPP", "FR"),
    ("IJS", "SI"),
    ("CESNET", "CZ"),
)
STORAGE_SYSTEMS = ("EOS", "DCACHE", "STORM", "XROOTD", "ECHO")
FIRST_NAMES = (  # noqa: SIM905 - names read better as text
    "Aris Paul Riccardo Marek Frederic Mario Xavier Rizart Yan Agustin Elena Giovanni Ana Lukas "
    "Sofia Martin Ines Pierre Clara Jonas Marta Oscar Petra Hugo Lea Nina Tomas Irene Karl Eva Luca "
    "Mila Jan Rosa Sven Alma Ivo Noor Zoe Emil"
).split()
LAST_NAMES = (  # noqa: SIM905 - names read better as text
    "Fkiaras Millar Di-Maria Szuba Gillardo Lassnig Espinal Dona Grange Calatrava Ruiz Bianchi Novak "
    "Weber Costa Moreau Schmidt Rossi Dubois Nowak Horvat Jansen Silva Berger Keller Ricci Marin "
    "Lopez Meyer Vogel Fischer Conti Laurent Svoboda Kral Hansen Nilsson Ortiz Santos Vidal"
).split()
INSTITUTES = ("CERN", "DESY", "INFN", "CNRS", "PIC", "SURF", "GSI", "IJS", "CESNET", "FAIR", "CTAO", "SKAO")
ACTION_VERBS = (
    "Add the qos key-value pair to the RSE endpoints of",
    "Contact the data manager of",
    "Write up the storage needs of",
    "Check the tape recall rates of",
    "Run the QoS transition test on",
    "Prepare slides on the QoS classes for",
    "Ask the site admins about the durability of",
    "Review the requirement document of",
)

# The generated accounts, in the order they are created: their kind (in the user name) and their roles.
ACCOUNT_ROLES: dict[str, tuple[str, ...]] = {
    "admin": (Role.MEMBER, Role.QOS_ADMIN),
    "coordinator": (Role.MEMBER, Role.COORDINATOR),
    "member": (Role.MEMBER,),
    "liaison": (Role.MEMBER, Role.LIAISON),
}

# The state of an RSE's newest push in these sync states; in the others it was written (done).
NEWEST_PUSH_STATES = {SyncState.PENDING: PushState.QUEUED, SyncState.FAILED: PushState.FAILED}

# Requirement statuses, and the steps that lead to each from "filed" (the events written).
REQUIREMENT_PATHS: dict[str, tuple[str, ...]] = {
    RequirementStatus.FILED: (),
    RequirementStatus.UNDER_REVIEW: (RequirementStatus.UNDER_REVIEW,),
    RequirementStatus.ACCEPTED: (RequirementStatus.UNDER_REVIEW, RequirementStatus.ACCEPTED),
    RequirementStatus.SATISFIED: (
        RequirementStatus.UNDER_REVIEW,
        RequirementStatus.ACCEPTED,
        RequirementStatus.SATISFIED,
    ),
    RequirementStatus.REJECTED: (RequirementStatus.UNDER_REVIEW, RequirementStatus.REJECTED),
    RequirementStatus.WITHDRAWN: (RequirementStatus.WITHDRAWN,),
}
# Steps a liaison takes; a QoS admin takes the others.
LIAISON_STEPS = {RequirementStatus.WITHDRAWN, RequirementStatus.FILED}


class _Generator:
    def __init__(self, sizes: Sizes, seed: int, now: datetime.datetime) -> None:
        self.sizes = sizes
        self.random = random.Random(seed)  # noqa: S311 - made-up data, not secrets
        self.now = now
        self.today = timezone.localdate(now)
        self.prefix = self._free_prefix()
        self.counts: dict[str, int] = {}

    def _free_prefix(self) -> str:
        """``LG``, or ``LG2``, ``LG3``... when an earlier run (with --force) already used it."""
        User = get_user_model()
        prefix, number = "LG", 1
        while User.objects.filter(username__startswith=f"{prefix.lower()}-").exists():
            number += 1
            prefix = f"LG{number}"
        return prefix

    def _create(self, name: str, model: type[models.Model], rows: Iterable[models.Model]) -> list[Any]:
        """Write the rows, counted in the report under ``name``."""
        created = _chunked_create(model, rows)
        self.counts[name] = self.counts.get(name, 0) + len(created)
        return created

    def _ago(self, days: float) -> datetime.datetime:
        return self.now - datetime.timedelta(days=days)

    def _sometimes(self, choices: Sequence[Any], chance: float) -> Any:
        """One of ``choices`` with this chance (none when there are none), else None."""
        return self.random.choice(choices) if choices and self.random.random() < chance else None

    def _classes_in(self, *statuses: str) -> list[StorageQoSClass]:
        return [qos_class for status in statuses for qos_class in self.classes_by_status.get(status, [])]

    def run(self) -> Report:
        self.accounts()
        self.classes()
        self.rses()
        self.experiments()
        self.requirements()
        self.meetings()
        self.actions()
        return Report(self.prefix, self.counts)

    # --- accounts and people -------------------------------------------------------------------------------
    def accounts(self) -> None:
        users = self._users()
        self.admins = _accounts_of(users, "admin")
        self.coordinators = _accounts_of(users, "coordinator")
        self.liaisons = _accounts_of(users, "liaison")
        self.people = self._create("people", Person, self._people(users))

    def _users(self) -> list[Any]:
        User = get_user_model()
        sizes, tag = self.sizes, self.prefix.lower()
        # Liaisons: two per experiment (``experiments()`` names them).
        numbers = {
            "admin": sizes.admins,
            "coordinator": sizes.coordinators,
            "member": sizes.members,
            "liaison": 2 * sizes.experiments,
        }
        specs = [
            (f"{tag}-{kind}-{i:03d}", roles)
            for kind, roles in ACCOUNT_ROLES.items()
            for i in range(1, numbers[kind] + 1)
        ]
        # bench/pages.py logs in by creating a session.
        users = self._create(
            "users",
            User,
            (
                User(username=name, first_name=name.split("-")[1].capitalize(), password=UNUSABLE)
                for name, _ in specs
            ),
        )
        groups = {group.name: group for group in Group.objects.filter(name__in=Role.values)}
        _chunked_create(
            User.groups.through,
            (
                User.groups.through(user_id=user.pk, group_id=groups[role].pk)
                for user, (_, roles) in zip(users, specs, strict=True)
                for role in roles
            ),
        )
        return users

    def _people(self, users: Sequence[Any]) -> list[Person]:
        """One per account (so that everyone may report on their own actions), then people without one."""
        names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
        self.random.shuffle(names)
        suffix = "" if self.prefix == "LG" else f" ({self.prefix})"
        return [
            Person(
                name=_numbered(names, i) + suffix,
                affiliation=self.random.choice(INSTITUTES),
                user=users[i] if i < len(users) else None,
            )
            for i in range(max(self.sizes.people, len(users)))
        ]

    # --- the catalogue ---------------------------------------------------------------------------------------
    def _content(self, i: int) -> dict[str, Any]:
        r = self.random
        word = CLASS_WORDS[i % len(CLASS_WORDS)]
        media = r.choice(StorageMedia.values)
        latency = (
            AccessLatency.NEARLINE
            if media == StorageMedia.TAPE
            else r.choices([AccessLatency.ONLINE, AccessLatency.NEARLINE], [4, 1])[0]
        )
        erasure = r.random() < 0.25 and media != StorageMedia.TAPE
        return {
            "label": f"{self.prefix}-{word}-{i:05d}",
            "title": f"{ADJECTIVES[i % len(ADJECTIVES)]} {StorageMedia(media).label.lower()} storage {i}",
            "description": f"Generated class {i} for load tests.\n\n* {AccessLatency(latency).label}.\n"
            f"* Keeps data {r.choice(['on one site', 'on several sites', 'in several countries'])}.",
            "storage_media": media,
            "access_latency": latency,
            "throughput_mbps": r.choice([None, 50, 100, 200, 500, 1000, 2000]),
            "redundancy": Redundancy.ERASURE_CODING if erasure else Redundancy.REPLICAS,
            "copies": 1 if erasure else r.choices([1, 2, 3], [5, 3, 1])[0],
            "erasure_coding": r.choice(["4+2", "8+2", "8+3", "10+4"]) if erasure else "",
            "geographic_placement": r.choice(GeographicPlacement.values),
            "durability_target": r.choice(
                [None, Decimal("99.9"), Decimal("99.99"), Decimal("99.999"), Decimal("99.99999")]
            ),
            "lifetime_days": r.choice([None, None, 30, 90, 365, 1825, 3650]),
            "cost_tier": r.choice(CostTier.values),
        }

    def classes(self) -> None:
        r = self.random
        statuses = r.choices(
            [
                ClassStatus.DRAFT,
                ClassStatus.PROPOSED,
                ClassStatus.APPROVED,
                ClassStatus.DEPRECATED,
                ClassStatus.RETIRED,
            ],
            [12, 8, 50, 18, 12],
            k=self.sizes.classes,
        )
        classes, plans = [], []
        for i, status in enumerate(statuses, start=1):
            content = self._content(i)
            qos_class = StorageQoSClass(**content)
            # The models' own rules on content (erasure coding needs a scheme, tape is nearline, ...).
            qos_class.clean_fields()
            qos_class.clean()
            plan = self._history(qos_class, status, content)
            classes.append(qos_class)
            plans.append(plan)
        classes = self._create("classes", StorageQoSClass, classes)
        revisions = []
        for qos_class, plan in zip(classes, plans, strict=True):
            for number, step in enumerate(plan, start=1):
                revisions.append(StorageQoSClassRevision(qos_class=qos_class, number=number, **step))
        revisions = self._create("revisions", StorageQoSClassRevision, revisions)
        # A pending change is the last revision of its class (written "edited", status "proposed").
        last = {revision.qos_class_id: revision for revision in revisions}
        pending = [c for c in classes if getattr(c, "_pending", False)]
        for qos_class in pending:
            qos_class.pending_revision = last[qos_class.pk]
        StorageQoSClass.objects.bulk_update(pending, ["pending_revision"], batch_size=CHUNK)
        # created_at and updated_at are automatic (bulk_create sets them to now): take them from the history.
        history = (
            StorageQoSClassRevision.objects.filter(qos_class=OuterRef("pk")).order_by().values("qos_class")
        )
        StorageQoSClass.objects.filter(pk__in=[c.pk for c in classes]).update(
            created_at=Subquery(history.annotate(at=Min("created_at")).values("at")),
            updated_at=Subquery(history.annotate(at=Max("created_at")).values("at")),
        )
        self.classes_by_status: dict[str, list[StorageQoSClass]] = {}
        for qos_class in classes:
            self.classes_by_status.setdefault(qos_class.status, []).append(qos_class)

    def _history(self, qos_class: StorageQoSClass, status: str, content: dict[str, Any]) -> list[dict]:
        """The revisions that lead a new class to ``status`` (each a dict of revision fields), and the class's
        own lifecycle fields set to match. Four eyes: whoever approves wrote nothing since the last approval."""
        r = self.random
        author, approver, other = r.sample(self.admins, 3) if len(self.admins) >= 3 else (*self.admins, None)
        other = other or author
        when = self._ago(r.uniform(30, 1500))
        steps: list[dict[str, Any]] = []

        def step(kind: str, step_status: str, by: Any, data: dict, changed=(), comment: str = "") -> None:
            nonlocal when
            when += datetime.timedelta(hours=r.uniform(1, 24 * 20))
            steps.append(
                {
                    "kind": kind,
                    "status": step_status,
                    "author": by,
                    "created_at": min(when, self.now),
                    "comment": comment,
                    "data": _json_content(data),
                    "changed_fields": list(changed),
                }
            )

        first_draft = {**content, "title": content["title"] + " (first draft)"}
        step(
            RevisionKind.CREATED,
            ClassStatus.DRAFT,
            author,
            first_draft,
            [name for name in CONTENT_FIELDS if first_draft[name] not in (None, "")],
        )
        step(RevisionKind.EDITED, ClassStatus.DRAFT, author, content, ["title"], "Shorter title.")
        if status != ClassStatus.DRAFT:
            if r.random() < 0.15:  # sent back once before
                step(RevisionKind.PROPOSED, ClassStatus.PROPOSED, author, content)
                step(RevisionKind.REJECTED, ClassStatus.DRAFT, approver, content, comment="Say which sites.")
            step(RevisionKind.PROPOSED, ClassStatus.PROPOSED, author, content)
        if status in (ClassStatus.APPROVED, ClassStatus.DEPRECATED, ClassStatus.RETIRED):
            step(
                RevisionKind.APPROVED,
                ClassStatus.APPROVED,
                approver,
                content,
                comment="Agreed at the meeting.",
            )
            qos_class.label_locked = True
            qos_class.approved_at = steps[-1]["created_at"]
        if status == ClassStatus.APPROVED and r.random() < 0.2:
            changed = {**content, "description": content["description"] + "\n* Also for analysis."}
            step(RevisionKind.EDITED, ClassStatus.PROPOSED, other, changed, ["description"])
            qos_class._pending = True
        if status in (ClassStatus.DEPRECATED, ClassStatus.RETIRED):
            step(RevisionKind.DEPRECATED, ClassStatus.DEPRECATED, author, content, comment="Superseded.")
        if status == ClassStatus.RETIRED:
            step(RevisionKind.RETIRED, ClassStatus.RETIRED, approver, content, comment="No RSE left.")
        qos_class.status = status
        qos_class.revision = len(steps)
        return steps

    # --- RSEs and pushes --------------------------------------------------------------------------------------
    def rses(self) -> None:
        instances = self._rucio_instances()
        # RSEs carry a few hundred of the classes, as in a real data lake: most classes are on none.
        advertised = self._classes_in(ClassStatus.APPROVED, ClassStatus.DEPRECATED)
        popular = self.random.sample(advertised, min(len(advertised), max(3, self.sizes.rses // 3)))
        self.popular_classes = [c for c in popular if c.status == ClassStatus.APPROVED]
        awaiting = self._classes_in(ClassStatus.DRAFT, ClassStatus.PROPOSED)
        rses, histories = [], []
        for i in range(1, self.sizes.rses + 1):
            rse = self._rse(i, instances, popular, awaiting)
            desired = rse.qos_class.label if rse.qos_class else None
            histories.append(self._push_history(rse, rse.sync_state, desired))
            rses.append(rse)
        rses = self._create("rses", RSE, rses)

        pushes = self._create(
            "pushes", Push, _attached(rses, [[push for push, _ in history] for history in histories], "rse")
        )
        attempts = _attached(pushes, [attempts for history in histories for _, attempts in history], "push")
        self._create("push attempts", PushAttempt, attempts)
        # RSE.last_pushed_at: when the latest push landed.
        landed = [rse for rse in rses if getattr(rse, "_last_pushed_at", None)]
        for rse in landed:
            rse.last_pushed_at = rse._last_pushed_at
        RSE.objects.bulk_update(landed, ["last_pushed_at"], batch_size=CHUNK)

    def _rucio_instances(self) -> list[RucioInstance]:
        tag = self.prefix.lower()
        instances = self._create(
            "rucio instances",
            RucioInstance,
            [
                RucioInstance(
                    name=f"{tag}-{name}",
                    host=f"https://rucio-{name}.example.org",
                    account="root",
                    env_prefix="RUCIO",
                    last_synced_at=self._ago(0.01),
                )
                for name in ("escape", "doma")
            ],
        )
        return instances

    def _rse(
        self,
        i: int,
        instances: Sequence[RucioInstance],
        popular: Sequence[StorageQoSClass],
        awaiting: Sequence[StorageQoSClass],
    ) -> RSE:
        """The ``i``-th RSE, in one of the sync states, with what Rucio was last seen to say to match it."""
        r = self.random
        site, country = SITES[i % len(SITES)]
        rse = RSE(
            instance=instances[0] if i % 5 else instances[1],
            name=f"{self.prefix}-{site}-{STORAGE_SYSTEMS[i % len(STORAGE_SYSTEMS)]}-{i:04d}",
            qos_class=self._sometimes(popular, 0.85),
            planned_class=self._sometimes(awaiting, 0.05),
            missing_in_rucio=r.random() < 0.01,
        )
        state = r.choices(SyncState.values, [70, 8, 7, 5, 10])[0]
        if state == SyncState.UNKNOWN and rse.qos_class is not None:
            state = SyncState.PENDING  # an assigned class is pushed at once; unknown is an RSE never read
        rse.sync_state = state
        if state != SyncState.UNKNOWN:
            rse.last_read_at = self._ago(r.uniform(0.01, 0.6))
            rse.rucio_value = self._rucio_value(state, rse.qos_class.label if rse.qos_class else None)
            attributes = {"country": country, "site": site, "fts": f"https://fts.{site.lower()}.example"}
            if rse.rucio_value is not None:
                attributes[rse.instance.attribute_key] = rse.rucio_value
            rse.rucio_attributes = attributes
        return rse

    def _rucio_value(self, state: str, desired: str | None) -> str | None:
        """The value Rucio holds for an RSE that was read, as ``state`` says it compares with ``desired``."""
        if state == SyncState.DRIFTED:
            return self.random.choice(["OLD-DISK", "TEST", None]) if desired else "HAND-SET"
        if state == SyncState.IN_SYNC:
            return desired
        return self.random.choice([desired, "OLD-DISK", None])

    def _push_history(
        self, rse: RSE, state: str, desired: str | None
    ) -> list[tuple[Push, list[PushAttempt]]]:
        """Pushes of one RSE, oldest first; the newest one's state is what ``state`` requires."""
        r = self.random
        if self._never_pushed(state, desired):
            return []
        history = []
        count = r.choice([1, 1, 2, 3])
        when = self._ago(r.uniform(2, 300))
        for n in range(count):
            newest = n == count - 1
            when = min(when + datetime.timedelta(days=r.uniform(0.1, 30)), self._ago(0.02))
            value = desired if newest else r.choice(["OLD-DISK", desired])
            push = self._push(rse, value, self._push_state(state, newest), when)
            attempts = self._attempts(push, when)
            if push.state == PushState.DONE:
                rse._last_pushed_at = push.finished_at
            history.append((push, attempts))
        return history

    def _never_pushed(self, state: str, desired: str | None) -> bool:
        # An RSE that was never read, or one that is (rightly) without a class: nothing was ever assigned to it.
        return state == SyncState.UNKNOWN or (
            state in (SyncState.IN_SYNC, SyncState.DRIFTED) and desired is None and self.random.random() < 0.5
        )

    def _push_state(self, state: str, newest: bool) -> str:
        if newest:
            return NEWEST_PUSH_STATES.get(state, PushState.DONE)
        return PushState.SUPERSEDED if self.random.random() < 0.2 else PushState.DONE

    def _push(self, rse: RSE, value: str | None, state: str, when: datetime.datetime) -> Push:
        return Push(
            key=rse.instance.attribute_key,
            value=value,
            operation=PushOperation.SET if value else PushOperation.DELETE,
            reason=f"assigned {value}" if value else "unassigned",
            requested_by=self.random.choice(self.admins),
            state=state,
            created_at=when,
        )

    def _attempts(self, push: Push, when: datetime.datetime) -> list[PushAttempt]:
        """The attempts of a push started at ``when``, and the push's outcome fields to match."""
        if push.state == PushState.DONE:
            push.attempts = 1
            push.finished_at = when + datetime.timedelta(seconds=self.random.uniform(1, 30))
            return [
                PushAttempt(
                    started_at=when,
                    finished_at=push.finished_at,
                    outcome=AttemptOutcome.WRITTEN,
                    value_before=None,
                )
            ]
        if push.state == PushState.FAILED:
            push.attempts = 2
            push.finished_at = when + datetime.timedelta(minutes=5)
            push.last_error = "Rucio refused: account root has no permission to set RSE attributes"
            return [
                PushAttempt(
                    started_at=when,
                    finished_at=when + datetime.timedelta(seconds=2),
                    outcome=AttemptOutcome.TRANSIENT_ERROR,
                    error="Connection refused",
                ),
                PushAttempt(
                    started_at=push.finished_at,
                    finished_at=push.finished_at,
                    outcome=AttemptOutcome.PERMANENT_ERROR,
                    error=push.last_error,
                ),
            ]
        if push.state == PushState.SUPERSEDED:
            push.finished_at = when + datetime.timedelta(seconds=5)
            push.last_error = "A newer push for this RSE was written."
        return []

    # --- experiments and requirements -------------------------------------------------------------------------
    def experiments(self) -> None:
        experiments = self._create(
            "experiments",
            Experiment,
            (
                Experiment(
                    short_name=f"{self.prefix}-EXP{i:03d}",
                    name=f"Generated experiment {i}",
                    description="An experiment of the load-test portal.",
                    website=f"https://exp{i}.example.org",
                )
                for i in range(1, self.sizes.experiments + 1)
            ),
        )
        self.experiment_list = experiments
        # Two liaisons each, in order.
        self.liaisons_of = {
            experiment.pk: self.liaisons[2 * i : 2 * i + 2] for i, experiment in enumerate(experiments)
        }
        _chunked_create(
            Experiment.liaisons.through,
            (
                Experiment.liaisons.through(experiment_id=pk, user_id=user.pk)
                for pk, users in self.liaisons_of.items()
                for user in users
            ),
        )
        self._create(
            "contacts",
            Contact,
            (
                Contact(
                    experiment=experiment,
                    name=f"{self.random.choice(FIRST_NAMES)} {self.random.choice(LAST_NAMES)}",
                    role=role,
                    email=f"{role.split()[0]}@exp{i}.example.org",
                )
                for i, experiment in enumerate(experiments, start=1)
                for role in ("data manager", "computing coordinator")
            ),
        )

    def requirements(self) -> None:
        linkable = self.popular_classes or self._classes_in(ClassStatus.APPROVED)
        requirements, plans = [], []
        for i, status in enumerate(self._requirement_statuses(linkable), start=1):
            requirement, filed_at, liaison = self._requirement(i, status)
            requirements.append(requirement)
            plans.append((filed_at, liaison))
        requirements = self._create("requirements", Requirement, requirements)

        events, links, comments = [], [], []
        for requirement, (filed_at, liaison) in zip(requirements, plans, strict=True):
            own_events, own_links = self._requirement_history(requirement, filed_at, liaison, linkable)
            events += own_events
            links += own_links
            comments += self._requirement_comments(requirement, filed_at, liaison)
        # created_at is auto_now_add (bulk_create sets it to now): put back when each was filed.
        Requirement.objects.bulk_update(requirements, ["status_changed_at", "created_at"], batch_size=CHUNK)
        self._create("requirement events", RequirementEvent, events)
        self._create("class links", ClassLink, links)
        self._create("requirement comments", RequirementComment, comments)

    def _requirement_statuses(self, linkable: Sequence[StorageQoSClass]) -> list[str]:
        statuses = self.random.choices(
            list(REQUIREMENT_PATHS), [15, 15, 30, 15, 10, 15], k=self.sizes.requirements
        )  # order of REQUIREMENT_PATHS: filed, under review, accepted, satisfied, rejected, withdrawn
        if not linkable:  # a satisfied requirement needs a linked approved class
            statuses = [
                RequirementStatus.ACCEPTED if s == RequirementStatus.SATISFIED else s for s in statuses
            ]
        return statuses

    def _requirement(self, i: int, status: str) -> tuple[Requirement, datetime.datetime, Any]:
        """The ``i``-th requirement, in ``status``; when it was filed, and the liaison who filed it."""
        r = self.random
        experiment = r.choice(self.experiment_list)
        liaison = r.choice(self.liaisons_of[experiment.pk])
        filed_at = self._ago(r.uniform(20, 900))
        requirement = Requirement(
            experiment=experiment,
            title=f"{r.choice(['Raw', 'Reconstructed', 'Simulated', 'Calibration', 'Analysis'])} data "
            f"{i} of {experiment.short_name}",
            description="What the data is, who reads it, and how often.",
            storage_media=r.choice(["", "", *StorageMedia.values]),
            access_latency=r.choice(["", "", *AccessLatency.values]),
            min_durability=r.choice([None, None, Decimal("99.9"), Decimal("99.99"), Decimal("99.999")]),
            copies=r.choices([1, 2, 3], [6, 3, 1])[0],
            volume_tb=Decimal(r.randint(1, 5_000_000)) / 1000,
            retention_days=r.choice([None, None, 365, 1825, 3650, 7300]),
            # 5000 MB/s no generated class offers: those requirements are gaps unless a class is linked.
            min_throughput_mbps=r.choice([None, None, None, 100, 500, 2000, 5000]),
            access_pattern=r.choice(AccessPattern.values),
            sites=r.choice(["", "", "Europe, two countries", "CERN and one other site"]),
            needed_by=r.choice([None, self.today + datetime.timedelta(days=r.randint(-200, 700))]),
            status=status,
            filed_by=liaison,
        )
        requirement.clean_fields(exclude=["experiment", "filed_by", "needed_by"])
        return requirement, filed_at, liaison

    def _requirement_history(
        self,
        requirement: Requirement,
        filed_at: datetime.datetime,
        liaison: Any,
        linkable: Sequence[StorageQoSClass],
    ) -> tuple[list[RequirementEvent], list[ClassLink]]:
        """The events that took a new requirement to its status (and the classes linked on the way), and the
        requirement's own dates set to match."""
        r = self.random
        event = functools.partial(RequirementEvent, requirement=requirement)
        when = filed_at
        events = [
            event(
                kind=RequirementEventKind.FILED,
                to_status=RequirementStatus.FILED,
                author=liaison,
                created_at=when,
            )
        ]
        if r.random() < 0.2:
            when += datetime.timedelta(days=r.uniform(0.1, 10))
            events.append(
                event(
                    kind=RequirementEventKind.EDITED,
                    to_status=RequirementStatus.FILED,
                    author=liaison,
                    created_at=when,
                    comment="Volume revised.",
                    changed_fields=["volume_tb"],
                )
            )
        previous = RequirementStatus.FILED
        links: list[ClassLink] = []
        for target in REQUIREMENT_PATHS[requirement.status]:
            when += datetime.timedelta(days=r.uniform(0.5, 30))
            if self._links_a_class(target, linked=bool(links)):
                new_links, new_events = self._class_links(requirement, previous, when, linkable)
                links += new_links
                events += new_events
                when += datetime.timedelta(minutes=5) * len(new_links)
            events.append(
                event(
                    kind=RequirementEventKind.STATUS,
                    from_status=previous,
                    to_status=target,
                    author=liaison if target in LIAISON_STEPS else r.choice(self.admins),
                    created_at=min(when, self.now),
                    comment="Not something the data lake offers."
                    if target == RequirementStatus.REJECTED
                    else "",
                )
            )
            previous = target
        requirement.status_changed_at = min(when, self.now)
        requirement.created_at = filed_at
        return events, links

    def _links_a_class(self, target: str, *, linked: bool) -> bool:
        """Whether a class is linked on the way to ``target``: always before the requirement is satisfied (if none
        is yet), often when it is accepted."""
        return (target == RequirementStatus.SATISFIED and not linked) or (
            target == RequirementStatus.ACCEPTED and self.random.random() < 0.7
        )

    def _class_links(
        self,
        requirement: Requirement,
        status: str,
        when: datetime.datetime,
        linkable: Sequence[StorageQoSClass],
    ) -> tuple[list[ClassLink], list[RequirementEvent]]:
        """One or two classes linked to a requirement in ``status`` by admins, from ``when`` five minutes apart."""
        r = self.random
        links, events = [], []
        for qos_class in r.sample(linkable, min(len(linkable), r.choice([1, 1, 2]))):
            admin = r.choice(self.admins)
            links.append(
                ClassLink(
                    requirement=requirement,
                    qos_class=qos_class,
                    copies=r.choice([1, 1, 2]),
                    linked_by=admin,
                    linked_at=when,
                )
            )
            events.append(
                RequirementEvent(
                    requirement=requirement,
                    kind=RequirementEventKind.LINKED,
                    from_status="",
                    to_status=status,
                    author=admin,
                    created_at=when,
                    qos_class=qos_class,
                )
            )
            when += datetime.timedelta(minutes=5)
        return links, events

    def _requirement_comments(
        self, requirement: Requirement, filed_at: datetime.datetime, liaison: Any
    ) -> list[RequirementComment]:
        r = self.random
        return [
            RequirementComment(
                requirement=requirement,
                author=liaison if n % 2 == 0 else r.choice(self.admins),
                created_at=filed_at + datetime.timedelta(days=n + 1),
                text=r.choice(
                    ["Can the tape copy be at another site?", "Which RSEs would hold it?", "Agreed."]
                ),
            )
            for n in range(r.choice([0, 0, 0, 1, 2, 3]))
        ]

    # --- meetings and actions ---------------------------------------------------------------------------------
    def meetings(self) -> None:
        r = self.random
        tag = self.prefix.lower()
        series_count = max(1, round(self.sizes.meetings / 200))
        series = self._create(
            "meeting series",
            MeetingSeries,
            (
                MeetingSeries(name=f"Load-test series {k}", slug=f"{tag}-series-{k}", location="Zoom")
                for k in range(1, series_count + 1)
            ),
        )
        self.streams = list(Stream.objects.all())
        meetings = []
        for i in range(self.sizes.meetings):
            one_series = series[i % series_count]
            # Every series meets fortnightly at 14:00 UTC; its newest two meetings are still to come.
            k = i // series_count
            per_series = -(-self.sizes.meetings // series_count)
            day = self.today + datetime.timedelta(days=14 * (k - per_series + 3) + i % series_count)
            meetings.append(
                Meeting(
                    series=one_series,
                    title=f"{one_series.name}, meeting {k + 1}",
                    starts_at=datetime.datetime.combine(day, datetime.time(14), tzinfo=datetime.UTC),
                    location="Zoom",
                    created_by=r.choice(self.coordinators),
                )
            )
        meetings = self.meeting_list = self._create("meetings", Meeting, meetings)
        attendees = []
        for meeting in meetings:
            for person in r.sample(self.people, min(len(self.people), r.randint(3, 8))):
                attendees.append(Meeting.attendees.through(meeting_id=meeting.pk, person_id=person.pk))
        self._create("attendances", Meeting.attendees.through, attendees)
        sections, items = [], []
        for meeting in meetings:
            past = meeting.starts_at < self.now
            titles = [("News", None), *((str(stream), stream) for stream in self.streams), ("AOB", None)]
            for position, (title, stream) in enumerate(titles):
                sections.append(
                    MinutesSection(
                        meeting=meeting,
                        position=position,
                        title=title,
                        stream=stream,
                        body="* Discussed the QoS classes.\n* Actions below." if past else "",
                    )
                )
            for position, (title, offset, minutes) in enumerate(
                [("News", 0, 10), ("Round table", 10, 40), ("AOB", 50, 10)]
            ):
                items.append(
                    TimetableItem(
                        meeting=meeting,
                        position=position,
                        title=title,
                        starts_at=meeting.starts_at + datetime.timedelta(minutes=offset),
                        duration_minutes=minutes,
                    )
                )
        self._create("minutes sections", MinutesSection, sections)
        self._create("timetable items", TimetableItem, items)

    def actions(self) -> None:
        past = [m for m in self.meeting_list if m.starts_at < self.now]
        approved = self._classes_in(ClassStatus.APPROVED)
        actions, plans = [], []
        for _ in range(self.sizes.actions):
            action, raised = self._action(past, approved)
            actions.append(action)
            plans.append(raised)
        actions = self._create("actions", Action, actions)

        by_series: dict[int, list[Meeting]] = {}
        for meeting in sorted(self.meeting_list, key=lambda m: m.starts_at):
            by_series.setdefault(meeting.series_id, []).append(meeting)
        owners, updates, reviews = [], [], []
        for action, raised in zip(actions, plans, strict=True):
            owners += [
                Action.owners.through(action_id=action.pk, person_id=person.pk)
                for person in self.random.sample(self.people, self.random.choice([1, 1, 1, 2, 2, 3]))
            ]
            update = self._action_update(action, raised)
            if update:
                updates.append(update)
            reviews += _reviews(action, raised, by_series)
        self._create("action owners", Action.owners.through, owners)
        self._create("action updates", ActionUpdate, updates)
        self._create("action reviews", ActionReview, reviews)

    def _action(
        self, past: Sequence[Meeting], approved: Sequence[StorageQoSClass]
    ) -> tuple[Action, datetime.datetime]:
        """An action, most raised at a past meeting, and when it was raised."""
        r = self.random
        raised_at = self._sometimes(past, 0.9)
        start = (
            raised_at.starts_at.date() if raised_at else self.today - datetime.timedelta(r.randint(0, 400))
        )
        due = start + datetime.timedelta(days=r.choice([14, 14, 28, 56]))
        # Most past actions were closed; a few are overdue (about one action in ten overall).
        status = r.choices(ActionStatus.values, [6, 3, 1, 0] if due >= self.today else [8, 4, 75, 13])[0]
        experiment = r.choice(self.experiment_list)
        action = Action(
            text=f"{r.choice(ACTION_VERBS)} {experiment.short_name}.",
            stream=self._sometimes(self.streams, 0.9),
            raised_at=raised_at,
            due_date=due if r.random() < 0.95 else None,
            status=status,
            qos_class=self._sometimes(approved, 0.2),
            experiment=experiment if r.random() < 0.3 else None,
            created_by=r.choice(self.coordinators),
        )
        raised = raised_at.starts_at if raised_at else self._ago((self.today - start).days)
        if status in (ActionStatus.DONE, ActionStatus.DROPPED):
            action.closed_at = min(raised + datetime.timedelta(days=r.uniform(1, 40)), self.now)
        return action, raised

    def _action_update(self, action: Action, raised: datetime.datetime) -> ActionUpdate | None:
        """The update that closed or moved an action, or a note on an open one (most have none)."""
        author = self.random.choice(self.coordinators)
        if action.status != ActionStatus.OPEN:
            fields = {
                "created_at": action.closed_at or min(raised + datetime.timedelta(days=3), self.now),
                "text": "Done at the meeting." if action.status == ActionStatus.DONE else "",
                "old_status": ActionStatus.OPEN,
                "new_status": action.status,
            }
        elif self.random.random() < 0.3:
            fields = {
                "created_at": min(raised + datetime.timedelta(days=2), self.now),
                "text": "Waiting for the site's answer.",
            }
        else:
            return None
        return ActionUpdate(action=action, author=author, **fields)


def _accounts_of(users: Iterable[Any], kind: str) -> list[Any]:
    return [user for user in users if f"-{kind}-" in user.username]


def _numbered(names: Sequence[str], i: int) -> str:
    """The ``i``-th name, with a number once every name has been used."""
    return names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")


def _attached(parents: Sequence[Any], children: Sequence[Sequence[Any]], field: str) -> list[Any]:
    """Every parent's children in one list, each with ``field`` set to its parent (saved by now)."""
    attached = []
    for parent, own in zip(parents, children, strict=True):
        for child in own:
            setattr(child, field, parent)
            attached.append(child)
    return attached


def _reviews(
    action: Action, raised: datetime.datetime, by_series: dict[int, list[Meeting]]
) -> list[ActionReview]:
    # Open actions are on the agenda of every later meeting of their series (the next two here).
    if not action.raised_at_id or action.status not in (ActionStatus.OPEN, ActionStatus.IN_PROGRESS):
        return []
    later = [m for m in by_series[action.raised_at.series_id] if m.starts_at > raised][:2]
    return [ActionReview(meeting=meeting, action=action) for meeting in later]


def _json_content(content: dict[str, Any]) -> dict[str, Any]:
    """A revision's snapshot, as ``StorageQoSClass.content()`` writes it."""
    return StorageQoSClass(**content).content()

"""Demo engagement, from stream B (and A) of the minutes of 2020-03-18: ATLAS, CTA, SKA and LOFAR.

ATLAS has the document Mario runs through ATLAS to get it approved; CTA and SKA have the pending "organise
meetings" contacts Aleem took on; LOFAR has its workflow run on a desktop with the output uploaded to the
data lake. Two requirements: CTA's raw-data archive, which SAFE satisfies (accepted with 2 x SAFE: its
coverage needs two RSEs in sync carrying QOS=SAFE), and an ATLAS one nothing does (a gap). Every object is looked up by its natural key first, so running the loader twice changes nothing.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model

from qos.choices import AccessLatency, StorageMedia
from qos.models import StorageQoSClass

from .choices import AccessPattern, DocumentStatus, RecordKind, RecordStatus
from .models import Contact, Document, EngagementRecord, Experiment, Requirement

MEETING = datetime.date(2020, 3, 18)

EXPERIMENTS = [
    {
        "short_name": "ATLAS",
        "name": "A Toroidal LHC ApparatuS",
        "website": "https://atlas.cern/",
        "description": "General-purpose experiment at CERN's Large Hadron Collider.",
        "liaisons": ["liaison-atlas"],
    },
    {
        "short_name": "CTA",
        "name": "Cherenkov Telescope Array",
        "website": "https://www.cta-observatory.org/",
        "description": "Ground-based gamma-ray observatory with telescopes in both hemispheres.",
        "liaisons": ["liaison-cta"],
    },
    {
        "short_name": "SKA",
        "name": "Square Kilometre Array",
        "website": "https://www.skao.int/",
        "description": "Radio telescope arrays in Australia and South Africa.",
        "liaisons": [],
    },
    {
        "short_name": "LOFAR",
        "name": "Low-Frequency Array",
        "website": "https://www.astron.nl/telescopes/lofar/",
        "description": "Radio interferometer across Europe; its workflow is the data lake's first test case.",
        "liaisons": [],
    },
]

CONTACTS = [
    {
        "experiment": "LOFAR",
        "name": "Pandey",
        "role": "LOFAR workflow",
        "notes": "Confirmed the uploaded output.",
    },
]

RECORDS = [
    {
        "experiment": "CTA",
        "kind": RecordKind.CONTACT,
        "subject": "Contact CTA to organise meetings",
        "date": MEETING,
        "who": "Aleem Sarwar",
        "status": RecordStatus.PENDING,
        "next_step": "Agree on a first meeting with CTA",
        "outcome": "",
    },
    {
        "experiment": "SKA",
        "kind": RecordKind.CONTACT,
        "subject": "Contact SKA to organise meetings",
        "date": MEETING,
        "who": "Aleem Sarwar",
        "status": RecordStatus.PENDING,
        "next_step": "Agree on a first meeting with SKA",
        "outcome": "",
    },
    {
        "experiment": "LOFAR",
        "kind": RecordKind.DEMONSTRATION,
        "subject": "LOFAR workflow run on a desktop, output uploaded to the data lake",
        "date": MEETING,
        "who": "Aleem Sarwar",
        "contacts": ["Pandey"],
        "status": RecordStatus.DONE,
        "next_step": "Find volunteer sites to run the LOFAR workflow",
        "outcome": "Aleem successfully ran the LOFAR workflow on his desktop and uploaded the **entire output "
        "tar file** to the data lake; Pandey confirmed the upload.",
    },
]

DOCUMENTS = [
    {
        "experiment": "ATLAS",
        "title": "The separate QoS document, for ATLAS approval",
        "owner": "liaison-atlas",
        "status": DocumentStatus.SUBMITTED,
        "status_note": "Mario runs it through ATLAS to get it approved (fortnightly meeting, 2020-03-18).",
    },
]

REQUIREMENTS = [
    {
        "experiment": "CTA",
        "filed_by": "liaison-cta",
        "title": "Raw camera data: custodial archive",
        "description": "Raw data from the telescopes' cameras. Written once, read again only to reprocess.",
        "storage_media": StorageMedia.TAPE,
        "access_latency": AccessLatency.NEARLINE,
        "min_durability": Decimal("99.999"),
        "copies": 2,
        "volume_tb": Decimal("500"),
        "retention_days": None,
        "access_pattern": AccessPattern.ARCHIVE,
        "sites": "Two sites in Europe",
        # Accepted with two copies on SAFE: coverage needs two RSEs in sync carrying QOS=SAFE.
        "accept_with": ("SAFE", 2),
    },
    {
        "experiment": "ATLAS",
        "filed_by": "liaison-atlas",
        "title": "Hot analysis data on SSD, two copies",
        "description": "Derived data read over and over by analysis jobs; losing a copy must not stop them.",
        "storage_media": StorageMedia.SSD,
        "access_latency": AccessLatency.ONLINE,
        "min_durability": Decimal("99.999"),
        "copies": 2,
        "volume_tb": Decimal("80"),
        "retention_days": 180,
        "min_throughput_mbps": 1000,
        "access_pattern": AccessPattern.ANALYSIS,
    },
]


def load() -> list[str]:
    """Create what is missing of the demo engagement; returns the experiments' short names created."""
    User = get_user_model()
    created = []
    experiments = {}
    for data in EXPERIMENTS:
        fields = {k: v for k, v in data.items() if k != "liaisons"}
        experiment, was_created = Experiment.objects.get_or_create(
            short_name=fields.pop("short_name"), defaults=fields
        )
        experiment.liaisons.add(*User.objects.filter(username__in=data["liaisons"]))
        experiments[experiment.short_name] = experiment
        if was_created:
            created.append(experiment.short_name)

    for data in CONTACTS:
        fields = dict(data)
        Contact.objects.get_or_create(
            experiment=experiments[fields.pop("experiment")], name=fields.pop("name"), defaults=fields
        )

    coordinator = User.objects.filter(username="coordinator").first()
    for data in RECORDS:
        fields = dict(data)
        experiment = experiments[fields.pop("experiment")]
        names = fields.pop("contacts", [])
        record, was_created = EngagementRecord.objects.get_or_create(
            experiment=experiment,
            subject=fields.pop("subject"),
            defaults={**fields, "created_by": coordinator},
        )
        if was_created:
            record.contacts.set(experiment.contacts.filter(name__in=names))

    for data in DOCUMENTS:
        fields = dict(data)
        owner = User.objects.get(username=fields.pop("owner"))
        Document.objects.get_or_create(
            experiment=experiments[fields.pop("experiment")],
            title=fields.pop("title"),
            defaults={**fields, "owner": owner, "status_changed_by": owner},
        )

    for data in REQUIREMENTS:
        _load_requirement(dict(data), experiments)
    return created


def _load_requirement(fields: dict[str, Any], experiments: dict[str, Experiment]) -> None:
    experiment = experiments[fields.pop("experiment")]
    accept_with = fields.pop("accept_with", None)
    existing = Requirement.objects.filter(experiment=experiment, title=fields["title"]).first()
    if existing is not None:
        if accept_with:
            # A demo loaded before links carried copies has its link at the default, one copy.
            label, copies = accept_with
            existing.links.filter(qos_class__label=label, copies=1).update(copies=copies)
        return
    User = get_user_model()
    liaison = User.objects.get(username=fields.pop("filed_by"))
    # Through the lifecycle, as people would, so that each requirement has its history.
    requirement = Requirement.objects.file(
        by=liaison, experiment=experiment, comment="Raised in stream B, 2020-03-18", **fields
    )
    if accept_with:
        label, copies = accept_with
        admin = User.objects.get(username="admin")
        requirement.take("review", by=admin)
        requirement.take("accept", by=admin, comment="SAFE keeps two tape copies at two sites.")
        requirement.link_class(
            StorageQoSClass.objects.get(label=label),
            by=admin,
            note="Custodial copies on tape, at two SAFE sites.",
            copies=copies,
        )

"""The four Storage QoS classes the ESCAPE data lake put on its RSEs (attribute QOS), approved by two admins."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model

from .choices import AccessLatency, CostTier, GeographicPlacement, Redundancy, StorageMedia
from .models import RSE, StorageQoSClass

DEMO_CLASSES = [
    {
        "label": "SAFE",
        "title": "Safe long-term custody",
        "description": "Tape-backed storage for data that must never be lost: raw data and its custodial copies.\n\n"
        "* Nearline: files are staged from tape before they are read.\n"
        "* Written once, read rarely.",
        "storage_media": StorageMedia.TAPE,
        "access_latency": AccessLatency.NEARLINE,
        "throughput_mbps": 200,
        "redundancy": Redundancy.REPLICAS,
        "copies": 2,
        "geographic_placement": GeographicPlacement.MULTI_SITE,
        "durability_target": Decimal("99.99999"),
        "lifetime_days": None,
        "cost_tier": CostTier.LOW,
    },
    {
        "label": "CHEAP-ANALYSIS",
        "title": "Cheap online disk for analysis",
        "description": "Online disk at a low price, for analysis inputs that can be recreated from a SAFE copy.",
        "storage_media": StorageMedia.DISK,
        "access_latency": AccessLatency.ONLINE,
        "throughput_mbps": 100,
        "redundancy": Redundancy.ERASURE_CODING,
        "copies": 1,
        "erasure_coding": "8+2",
        "geographic_placement": GeographicPlacement.SINGLE_SITE,
        "durability_target": Decimal("99.9"),
        "lifetime_days": 365,
        "cost_tier": CostTier.LOW,
    },
    {
        "label": "FAST",
        "title": "Fast online disk, high throughput",
        "description": "SSD-backed online storage for I/O-heavy workflows such as the LOFAR pipeline's staging area.",
        "storage_media": StorageMedia.SSD,
        "access_latency": AccessLatency.ONLINE,
        "throughput_mbps": 2000,
        "redundancy": Redundancy.REPLICAS,
        "copies": 1,
        "geographic_placement": GeographicPlacement.SINGLE_SITE,
        "durability_target": Decimal("99.99"),
        "lifetime_days": 90,
        "cost_tier": CostTier.HIGH,
    },
    {
        "label": "OPPORTUNISTIC",
        "title": "Opportunistic disk, no guarantee",
        "description": "A single disk copy on whatever space a site can spare. **No guarantee**: data may vanish.",
        "storage_media": StorageMedia.DISK,
        "access_latency": AccessLatency.ONLINE,
        "throughput_mbps": None,
        "redundancy": Redundancy.REPLICAS,
        "copies": 1,
        "geographic_placement": GeographicPlacement.SINGLE_SITE,
        "durability_target": None,
        "lifetime_days": 30,
        "cost_tier": CostTier.LOW,
    },
]


def load() -> list[str]:
    """Create and approve the demo classes that do not exist yet; returns the labels created."""
    User = get_user_model()
    author, approver = User.objects.get(username="admin"), User.objects.get(username="admin2")
    created = []
    for content in DEMO_CLASSES:
        if StorageQoSClass.objects.filter(label=content["label"]).exists():
            continue
        qos_class = StorageQoSClass.objects.create_draft(
            by=author, comment="First draft of the Storage QoS Class wiki page", **content
        )
        qos_class.propose(by=author, comment="As agreed in stream A, 2020-03-18")
        qos_class.approve(by=approver, comment="Matches the wiki page")
        created.append(qos_class.label)
    return created


# The demo's classes on the local Rucio's RSEs (scripts/run), so that its first probes show every verdict: FAST's
# 2,000 MB/s is beyond a local disk (violating), OPPORTUNISTIC promises no throughput (conforming),
# INFN-NA-DPM's storage cannot be created (unreachable), a tape RSE has nothing to write through (unknown).
DEMO_ASSIGNMENTS = {
    "CERN-EOS": "FAST",
    "DESY-DCACHE": "OPPORTUNISTIC",
    "PIC-DCACHE": "CHEAP-ANALYSIS",
    "INFN-NA-DPM": "OPPORTUNISTIC",
    "CNAF-STORM-TAPE": "SAFE",
}


def assign_to_rses() -> list[str]:
    """Assign the demo's classes to the local Rucio's RSEs that carry none (and have none planned); returns the
    RSEs assigned. The pushes go to Rucio as any assignment's."""
    admin = get_user_model().objects.get(username="admin")
    assigned = []
    for name, label in DEMO_ASSIGNMENTS.items():
        rses = RSE.objects.filter(name=name, qos_class__isnull=True, planned_class__isnull=True)
        qos_class = StorageQoSClass.objects.filter(label=label).first()
        if qos_class is not None and rses.exists():
            rses.assign(qos_class, by=admin, reason="The demo's first assignment, probed at start")
            assigned.append(name)
    return assigned

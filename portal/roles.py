"""Roles as Django groups with model permissions.

Views and the API only ever ask ``user.has_perm(...)``: they do not care whether the group membership came
from a local account or from IAM group claims, so the login method can change without touching a view.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

from .choices import Role

# Every role reads everything; what differs is what it may change.
READ_EVERYTHING = "view"

# An experiment's records, documents and contacts: a liaison's of their own experiments, a coordinator's of all.
EXPERIMENT_ITEMS = [
    "engagement.add_engagementrecord",
    "engagement.change_engagementrecord",
    "engagement.add_document",
    "engagement.change_document",
    "engagement.add_contact",
    "engagement.change_contact",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.MEMBER: [],
    Role.LIAISON: [
        # Requirements, records, documents and contacts of *their own* experiments only: the engagement
        # querysets (Experiment.objects.requirements_writable_by ...) narrow these to them.
        "engagement.add_requirement",
        "engagement.change_requirement",
        "engagement.add_requirementcomment",
        *EXPERIMENT_ITEMS,
    ],
    Role.COORDINATOR: [
        # Meetings (with their timetable, minutes and attachments), people and every action. Owners who
        # are not coordinators update their own actions through an object-level check, not a permission.
        "meetings.add_meetingseries",
        "meetings.change_meetingseries",
        "meetings.add_meeting",
        "meetings.change_meeting",
        "meetings.add_person",
        "meetings.change_person",
        "meetings.add_action",
        "meetings.change_action",
        # Stream B: experiments, their liaisons, and the records, documents and contacts of every experiment
        # (requirements stay the experiments' own, filed by their liaisons).
        "engagement.add_experiment",
        "engagement.change_experiment",
        "engagement.manage_any_experiment",
        *EXPERIMENT_ITEMS,
    ],
    Role.QOS_ADMIN: [
        "qos.add_storageqosclass",
        "qos.change_storageqosclass",
        "qos.approve_storageqosclass",
        "qos.push_rse",
        # Rucio instances come from the deployment's environment: admins only set an instance's attribute key
        # and whether it is enabled.
        "qos.change_rucioinstance",
        # Requirements: review, accept, reject, mark satisfied, link classes; and take part in the thread.
        "engagement.review_requirement",
        "engagement.add_requirementcomment",
    ],
}

# Apps whose models every role may view.
PORTAL_APPS = ("qos", "engagement", "meetings")


def sync_roles(apps: Any = global_apps) -> None:
    """Create the role groups and give each exactly its permissions (idempotent).

    ``apps`` is the migration state's registry inside a data migration, the global one otherwise.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_permissions = list(
        Permission.objects.filter(content_type__app_label__in=PORTAL_APPS, codename__startswith="view_")
    )
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = list(view_permissions)
        for name in names:
            app_label, codename = name.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    sync_roles(kwargs.get("apps") or global_apps)

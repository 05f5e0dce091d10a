"""Which IAM account each portal user logs in with, and how IAM's answer becomes the user's roles."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from portal.choices import Role

from .claims import Grant, GroupRoleMapping, groups_from_claims


class LoginRefused(Exception):
    """IAM vouched for the person, but the portal does not let them in; ``reason`` says why, for them.

    Deliberately neither SuspiciousOperation nor PermissionDenied: Django's ``authenticate()`` and the
    library swallow those, and the reason would be lost on the way to the page that shows it.
    """

    def __init__(self, reason: str, *, groups: list[str] | None = None, required: list[str] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.groups = groups or []
        self.required = required or []


class IamIdentityQuerySet(models.QuerySet):
    def sign_in(self, *, issuer: str, claims: Mapping[str, Any]) -> Any:
        """The portal user for these IAM claims, created on first sight, with name, e-mail and roles updated.

        Users are found by (issuer, ``sub``), never by e-mail. Roles are recomputed from the group claims at
        every call: a user who left an IAM group loses what it gave. A user whose groups give no role is
        refused (``LoginRefused``); if they had an account, it keeps no role.
        """
        from engagement.models import Experiment

        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise LoginRefused("IAM sent no subject (sub) for this account.")
        # One spelling per issuer, whether it came from an ID token (`iss`, IAM's ends with a slash) or from
        # the setting (bearer tokens), or the same person would get two accounts.
        issuer = issuer.rstrip("/")
        mapping = GroupRoleMapping.from_settings()
        groups = groups_from_claims(
            claims, entitlement_namespace=getattr(settings, "OIDC_ENTITLEMENT_NAMESPACE", "")
        )
        experiments = list(Experiment.objects.values_list("short_name", flat=True))
        grants = mapping.grants(groups, experiments)
        with transaction.atomic():
            identity = self.select_related("user").filter(issuer=issuer, subject=subject).first()
            if identity is None and grants:
                identity = self._create(issuer, subject, claims)
            if identity is not None:
                identity._apply(claims, groups, grants)
        if not grants:
            raise LoginRefused(
                "Your IAM account is in none of the groups that give a role in this portal.",
                groups=sorted(groups),
                required=mapping.required_groups(experiments),
            )
        return identity.user

    def _create(self, issuer: str, subject: str, claims: Mapping[str, Any]) -> IamIdentity:
        User = get_user_model()
        for attempt in range(5):
            username = username_for(claims, subject, attempt)
            if User.objects.filter(username=username).exists():
                continue
            try:
                with transaction.atomic():
                    user = User.objects.create_user(username=username)  # no password: IAM only
                    return self.create(user=user, issuer=issuer, subject=subject)
            except IntegrityError:
                # The same person logging in twice at once, or the name taken meanwhile: look again.
                existing = self.select_related("user").filter(issuer=issuer, subject=subject).first()
                if existing is not None:
                    return existing
        raise LoginRefused("No free user name could be found for your IAM account; tell the portal admins.")


def username_for(claims: Mapping[str, Any], subject: str, attempt: int = 0) -> str:
    """A readable, unique-looking user name: IAM's preferred_username, else the e-mail's local part.

    Chosen once, at the first login, and never changed: it is how people are named in the portal. A name
    already taken (e.g. by a local account) gets a suffix derived from the subject; the accounts are never
    merged.
    """
    base = claims.get("preferred_username") or str(claims.get("email") or "").split("@")[0] or "iam"
    base = re.sub(r"[^\w.@+-]", "-", str(base))[:120] or "iam"
    if attempt == 0:
        return base
    digest = hashlib.sha256(f"{subject}:{attempt}".encode()).hexdigest()[:6]
    return f"{base}-{digest}"


class IamIdentity(models.Model):
    """The IAM account (issuer and subject, never the e-mail) a portal user logs in with.

    Also keeps what IAM said at the last login: the user's groups, and the roles they gave (``grants``), so
    that people can see why they may do what they may do.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="iam_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, help_text="IAM's `sub`: stable, unlike the e-mail address.")
    groups = models.JSONField(default=list, blank=True, help_text="IAM groups at the last login, normalised.")
    grants = models.JSONField(
        default=list, blank=True, help_text="The roles these groups gave: {group, role, experiment}."
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    objects = IamIdentityQuerySet.as_manager()

    class Meta:
        verbose_name = "IAM identity"
        verbose_name_plural = "IAM identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="iam_identity_unique_subject")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.subject})"

    def _apply(self, claims: Mapping[str, Any], groups: set[str], grants: list[Grant]) -> None:
        from engagement.models import Experiment

        user = self.user
        user.first_name, user.last_name = _names(claims)
        if isinstance(claims.get("email"), str):
            user.email = claims["email"][:254]
        user.save(update_fields=["first_name", "last_name", "email"])

        # Only the role groups are IAM's; any other group a local admin gave stays.
        wanted = {grant.role for grant in grants}
        role_groups = {group.name: group for group in Group.objects.filter(name__in=Role.values)}
        current = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        user.groups.remove(*[role_groups[name] for name in current - wanted])
        user.groups.add(*[role_groups[name] for name in wanted - current if name in role_groups])
        liaison_of = {grant.experiment for grant in grants if grant.role == Role.LIAISON}
        user.liaison_experiments.set(Experiment.objects.filter(short_name__in=liaison_of))

        self.groups = sorted(groups)
        self.grants = [grant.as_dict() for grant in grants]
        self.last_seen_at = timezone.now()
        self.save(update_fields=["groups", "grants", "last_seen_at"])


def _names(claims: Mapping[str, Any]) -> tuple[str, str]:
    given, family = claims.get("given_name"), claims.get("family_name")
    if isinstance(given, str) or isinstance(family, str):
        return str(given or "")[:150], str(family or "")[:150]
    first, _, last = str(claims.get("name") or "").strip().partition(" ")
    return first[:150], last[:150]


@dataclass(frozen=True)
class AccountSummary:
    """Who a user is for the portal: roles, experiments they speak for, and which IAM groups gave what."""

    user: Any
    roles: list[tuple[str, str]]  # (role, label), in the order of Role
    liaison_of: list[str]  # experiment short names
    identity: IamIdentity | None

    @property
    def kind(self) -> str:
        return "iam" if self.identity else "local"

    def groups_giving(self, role: str) -> list[dict[str, str | None]]:
        """The IAM grants (group, experiment) behind a role; empty for roles given locally."""
        if self.identity is None:
            return []
        return [grant for grant in self.identity.grants if grant["role"] == role]

    @property
    def role_rows(self) -> list[tuple[str, str, list[dict[str, str | None]]]]:
        """(role, label, IAM grants behind it) for each role the user holds."""
        return [(role, label, self.groups_giving(role)) for role, label in self.roles]


def account_summary(user: Any) -> AccountSummary:
    """Three queries whatever the number of roles, experiments or groups."""
    names = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    return AccountSummary(
        user=user,
        roles=[(role.value, role.label) for role in Role if role.value in names],
        liaison_of=list(user.liaison_experiments.order_by("short_name").values_list("short_name", flat=True)),
        identity=IamIdentity.objects.filter(user=user).first(),
    )

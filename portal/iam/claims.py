"""IAM group claims → normalised group paths → the portal's roles. Pure functions: no database, no network.

IAM says which groups a user is in three ways, depending on the token profile of the client:

- its default profile sends ``groups``: names without a leading slash (``escape/cta``);
- its WLCG profile sends ``wlcg.groups``: paths with a leading slash (``/escape/cta``), and possibly only the
  groups that were asked for with a ``wlcg.groups:/escape/cta`` scope;
- its AARC profile sends ``eduperson_entitlement``: AARC-G002 URNs,
  ``urn:geant:escape.eu:group:escape:cta[:role=member]#authority`` (IAM's own
  ``AarcClaimValueHelper`` writes ``urn:<nid>:<namespace>:group:<group with / as :>``). These are read only
  when ``OIDC_ENTITLEMENT_NAMESPACE`` names the namespace to trust; otherwise they are ignored.

All three become the same path, ``escape/cta``. The mapping from paths to roles is the setting
``OIDC_GROUP_ROLES`` (see ``GroupRoleMapping``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from portal.choices import Role

GROUP_CLAIMS = ("groups", "wlcg.groups", "eduperson_entitlement")

EXPERIMENT = "{experiment}"

# Exactly what the issue asks for: `escape` → member, `escape/qos/admins` → QoS admin, and `escape/<experiment>`
# → liaison of that experiment, for every experiment the portal knows. Coordinators are not mapped by default:
# add e.g. "escape/qos/coordinators": "coordinator" to OIDC_GROUP_ROLES.
DEFAULT_GROUP_ROLES: dict[str, str | list[str]] = {
    "escape": Role.MEMBER.value,
    "escape/qos/admins": Role.QOS_ADMIN.value,
    f"escape/{EXPERIMENT}": Role.LIAISON.value,
}


def _as_list(value: Any) -> list[Any]:
    # A provider may send a single group as a plain string rather than a one-element list.
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set):
        return list(value)
    return []


def normalise_group(value: Any) -> str | None:
    """``/escape/cta/`` or ``escape//cta`` → ``escape/cta``; anything that is not a group name → None."""
    if not isinstance(value, str):
        return None
    parts = [part for part in value.strip().split("/") if part]
    return "/".join(parts) or None


def group_from_entitlement(value: Any, namespace: str) -> str | None:
    """The group path of an AARC-G002 entitlement URN of ``namespace``, or None.

    With ``namespace`` ``urn:geant:escape.eu``, ``urn:geant:escape.eu:group:escape:qos:admins:role=member#iam``
    → ``escape/qos/admins``. Entitlements of any other namespace give None, and so does every entitlement when
    no namespace is given: anyone may mint ``urn:<their namespace>:group:escape:cta``, so without knowing whose
    namespace to trust, ``escape:cta`` in an entitlement says nothing about the ESCAPE group.
    """
    if not namespace or not isinstance(value, str) or not value.lower().startswith("urn:"):
        return None
    urn = value.split("#", 1)[0]
    prefix = f"{namespace.rstrip(':')}:group:"
    if not urn.lower().startswith(prefix.lower()):
        return None
    path = urn[len(prefix) :]
    # A role (`:role=member`, `:role=owner`) says how the user belongs to the group, not which group it is.
    segments = [segment for segment in path.split(":") if segment and not segment.lower().startswith("role=")]
    return "/".join(segments) or None


def groups_from_claims(*claim_sets: Mapping[str, Any] | None, entitlement_namespace: str = "") -> set[str]:
    """Every group any of the claim sets (ID token, userinfo) names, in any of IAM's three forms.

    Entitlements count only with an ``entitlement_namespace`` (the setting ``OIDC_ENTITLEMENT_NAMESPACE``), and
    then only those of that namespace.
    """
    groups: set[str] = set()
    for claims in claim_sets:
        if not claims:
            continue
        for value in _as_list(claims.get("groups")) + _as_list(claims.get("wlcg.groups")):
            group = normalise_group(value)
            if group:
                groups.add(group)
        for value in _as_list(claims.get("eduperson_entitlement")):
            group = group_from_entitlement(value, entitlement_namespace)
            if group:
                groups.add(group)
    return groups


@dataclass(frozen=True, order=True)
class Grant:
    """One role given by one IAM group; ``experiment`` is the short name for a liaison."""

    group: str
    role: str
    experiment: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class _Rule:
    key: str
    pattern: re.Pattern[str]
    roles: tuple[tuple[str, str | None], ...]  # (role, fixed experiment short name or None)

    @property
    def has_placeholder(self) -> bool:
        return EXPERIMENT in self.key


class GroupRoleMapping:
    """Which roles an IAM group gives, from a JSON object such as::

        {"escape": "member", "escape/qos/admins": "qos-admin", "escape/{experiment}": "liaison",
         "escape/qos/coordinators": ["member", "coordinator"], "escape/cta-board": "liaison:CTA"}

    Keys are IAM groups (a leading slash is allowed and ignored). ``{experiment}`` stands for one path segment
    that names an experiment the portal knows (compared case-insensitively with its short name). A value is a
    role or a list of roles among member, liaison, coordinator, qos-admin; ``liaison`` needs an experiment,
    from ``{experiment}`` in the key or written as ``liaison:<short name>``.
    """

    def __init__(self, rules: list[_Rule]) -> None:
        self.rules = rules

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | None) -> GroupRoleMapping:
        """Build a mapping from the setting's value; empty means the default. Raises ImproperlyConfigured."""
        if value is None or (isinstance(value, str) and not value.strip()):
            value = DEFAULT_GROUP_ROLES
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ImproperlyConfigured(f"OIDC_GROUP_ROLES is not valid JSON: {error}") from None
        if not isinstance(value, Mapping) or not value:
            raise ImproperlyConfigured(
                'OIDC_GROUP_ROLES must be a non-empty JSON object, e.g. {"escape": "member"}.'
            )
        return cls([_parse_rule(key, roles) for key, roles in value.items()])

    @classmethod
    def from_settings(cls) -> GroupRoleMapping:
        raw = getattr(settings, "OIDC_GROUP_ROLES", "")
        if isinstance(raw, Mapping):
            raw = json.dumps(raw, sort_keys=True)
        return _parse_cached(raw or "")

    def grants(self, groups: Iterable[str], experiments: Iterable[str]) -> list[Grant]:
        """The roles these groups give, given the short names of the experiments the portal knows."""
        known = {name.lower(): name for name in experiments}
        found: set[Grant] = set()
        for group in groups:
            for rule in self.rules:
                match = rule.pattern.match(group)
                if not match:
                    continue
                matched = known.get(match.group("experiment").lower()) if rule.has_placeholder else None
                if rule.has_placeholder and matched is None:
                    continue  # escape/<something> that is not an experiment of the portal gives nothing
                for role, fixed in rule.roles:
                    if role == Role.LIAISON:
                        experiment = known.get(fixed.lower()) if fixed else matched
                        if experiment is None:
                            continue
                        found.add(Grant(group, role, experiment))
                    else:
                        found.add(Grant(group, role))
        return sorted(found)

    def required_groups(self, experiments: Iterable[str]) -> list[str]:
        """The groups that give some role, as people read them (for the page that refuses a login)."""
        names = sorted({name.lower() for name in experiments})
        shown: list[str] = []
        for rule in self.rules:
            if rule.has_placeholder:
                shown.extend(rule.key.replace(EXPERIMENT, name) for name in names)
            else:
                shown.append(rule.key)
        return shown


ROLE_NAMES = {role.value for role in Role}


def _parse_rule(key: Any, roles: Any) -> _Rule:
    group = normalise_group(key)
    if not group:
        raise ImproperlyConfigured(f"OIDC_GROUP_ROLES: {key!r} is not an IAM group name.")
    pattern = _group_pattern(key, group)
    parsed = tuple(_parse_role(key, group, entry) for entry in _as_list(roles) or [roles])
    return _Rule(group, pattern, parsed)


def _group_pattern(key: Any, group: str) -> re.Pattern[str]:
    """What matches ``group``, with ``{experiment}`` standing for any one path segment."""
    segments = group.split("/")
    placeholders = [segment for segment in segments if EXPERIMENT in segment]
    if placeholders not in ([], [EXPERIMENT]):
        raise ImproperlyConfigured(
            f"OIDC_GROUP_ROLES: in {key!r}, {EXPERIMENT} must be a whole path segment, and appear once."
        )
    pattern = "/".join(
        "(?P<experiment>[^/]+)" if segment == EXPERIMENT else re.escape(segment) for segment in segments
    )
    return re.compile(f"^{pattern}$")


def _parse_role(key: Any, group: str, entry: Any) -> tuple[str, str | None]:
    """One role of the group ``key`` (normalised: ``group``), and the experiment it names if any."""
    if not isinstance(entry, str) or not entry.strip():
        raise ImproperlyConfigured(f"OIDC_GROUP_ROLES: the roles of {key!r} must be role names.")
    role, _, experiment = entry.strip().partition(":")
    if role not in ROLE_NAMES:
        raise ImproperlyConfigured(
            f"OIDC_GROUP_ROLES: {entry!r} (for {key!r}) is not a role; roles are {', '.join(sorted(ROLE_NAMES))}."
        )
    if experiment and role != Role.LIAISON:
        raise ImproperlyConfigured(f"OIDC_GROUP_ROLES: only liaison takes an experiment, not {entry!r}.")
    if role == Role.LIAISON and not experiment and EXPERIMENT not in group:
        raise ImproperlyConfigured(
            f'OIDC_GROUP_ROLES: liaison of which experiment? Write {key!r}: "liaison:CTA", '
            f"or use {EXPERIMENT} in the group."
        )
    return role, experiment.strip() or None


@lru_cache(maxsize=8)
def _parse_cached(raw: str) -> GroupRoleMapping:
    # Parsed once per value; keyed on the raw text so that a changed setting (tests) is seen at once.
    return GroupRoleMapping.parse(raw)

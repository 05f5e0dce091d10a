"""IAM's three ways of naming groups become one, and the mapping from groups to roles (no provider needed)."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.iam.claims import Grant, GroupRoleMapping, group_from_entitlement, groups_from_claims

EXPERIMENTS = ["ATLAS", "CTA", "LOFAR"]


NAMESPACE = "urn:geant:escape.eu"


def test_default_profile_groups_wlcg_paths_and_entitlements_all_become_the_same_path():
    assert groups_from_claims({"groups": ["escape", "escape/cta"]}) == {"escape", "escape/cta"}
    assert groups_from_claims({"wlcg.groups": ["/escape", "/escape/cta"]}) == {"escape", "escape/cta"}
    assert groups_from_claims(
        {
            "eduperson_entitlement": [
                "urn:geant:escape.eu:group:escape#iam.example",
                "urn:geant:escape.eu:group:escape:cta:role=member#iam.example",
                "urn:geant:escape.eu:group:escape:qos:admins",  # IAM's own form: no authority
            ]
        },
        entitlement_namespace=NAMESPACE,
    ) == {"escape", "escape/cta", "escape/qos/admins"}


def test_groups_from_the_id_token_and_userinfo_are_merged():
    assert groups_from_claims({"groups": ["escape"]}, {"wlcg.groups": ["/escape/cta"]}, None) == {
        "escape",
        "escape/cta",
    }


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"groups": "escape"}, {"escape"}),  # a single group sent as a string
        ({"groups": ["escape//cta/", " /escape "]}, {"escape/cta", "escape"}),
        ({"groups": [None, 3, "", "/", {"name": "x"}]}, set()),
        ({"groups": 42}, set()),
        (
            {
                "eduperson_entitlement": [
                    "https://example.org/not-a-urn",
                    "urn:mace:dir:entitlement:common-lib",
                ]
            },
            set(),
        ),
        ({}, set()),
    ],
)
def test_odd_claim_values_are_ignored_rather_than_trusted(claims, expected):
    assert groups_from_claims(claims) == expected


def test_an_entitlement_namespace_keeps_only_the_portals_own_entitlements():
    ours = "urn:geant:escape.eu:group:escape:cta#iam"
    theirs = "urn:geant:other.org:group:escape:cta#elsewhere"
    assert group_from_entitlement(ours, "urn:geant:escape.eu") == "escape/cta"
    assert group_from_entitlement(ours, "URN:GEANT:ESCAPE.EU:") == "escape/cta"
    assert group_from_entitlement(theirs, "urn:geant:escape.eu") is None
    # A namespace that only begins like ours is another namespace.
    assert group_from_entitlement("urn:geant:escape.eu.evil:group:escape:cta", "urn:geant:escape.eu") is None
    claims = {"eduperson_entitlement": [ours, theirs], "groups": ["escape"]}
    assert groups_from_claims(claims, entitlement_namespace=NAMESPACE) == {"escape", "escape/cta"}


def test_without_a_namespace_no_entitlement_gives_a_group():
    # Anyone may mint urn:<their namespace>:group:escape:cta; without a namespace to trust, none counts.
    theirs = "urn:geant:other.org:group:escape:cta#elsewhere"
    assert group_from_entitlement(theirs, "") is None
    assert group_from_entitlement("urn:geant:escape.eu:group:escape:cta#iam", "") is None
    assert groups_from_claims({"eduperson_entitlement": [theirs], "groups": ["escape"]}) == {"escape"}


def test_default_mapping_is_exactly_member_qos_admin_and_liaison_of_known_experiments():
    mapping = GroupRoleMapping.parse("")
    grants = mapping.grants(
        {
            "escape",
            "escape/qos/admins",
            "escape/cta",
            "escape/Lofar",
            "escape/ska",
            "escape/qos/coordinators",
        },
        EXPERIMENTS,
    )
    assert grants == [
        Grant("escape", "member"),
        Grant("escape/Lofar", "liaison", "LOFAR"),  # experiments compared case-insensitively
        Grant("escape/cta", "liaison", "CTA"),
        Grant("escape/qos/admins", "qos-admin"),
    ]  # SKA is not an experiment of this portal; coordinators are not mapped by default


def test_look_alike_groups_give_nothing():
    mapping = GroupRoleMapping.parse("")
    assert (
        mapping.grants({"escape-friends", "other-vo/escape", "escapes", "escape/cta/extra"}, EXPERIMENTS)
        == []
    )


def test_a_json_setting_replaces_the_default_mapping():
    mapping = GroupRoleMapping.parse(
        '{"/escape": "member", "escape/qos/coordinators": ["member", "coordinator"],'
        ' "escape/cta-board": "liaison:CTA", "escape/wp2/{experiment}": "liaison"}'
    )
    grants = mapping.grants(
        {"escape", "escape/qos/coordinators", "escape/cta-board", "escape/wp2/atlas", "escape/qos/admins"},
        EXPERIMENTS,
    )
    assert {(grant.role, grant.experiment) for grant in grants} == {
        ("member", None),
        ("coordinator", None),
        ("liaison", "CTA"),
        ("liaison", "ATLAS"),
    }
    assert mapping.required_groups(["CTA"]) == [
        "escape",
        "escape/qos/coordinators",
        "escape/cta-board",
        "escape/wp2/cta",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ('{"escape": "admin"}', "'admin' (for 'escape') is not a role"),
        ('{"escape/cta": "liaison"}', "liaison of which experiment?"),
        ('{"escape": "member:CTA"}', "only liaison takes an experiment"),
        ('{"escape/x{experiment}": "liaison"}', "must be a whole path segment"),
        ('{"/": "member"}', "is not an IAM group name"),
        ('{"escape": 7}', "must be role names"),
    ],
)
def test_a_bad_mapping_is_a_clear_configuration_error(value, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        GroupRoleMapping.parse(value)

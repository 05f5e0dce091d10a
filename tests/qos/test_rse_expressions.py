"""The portal's evaluator of Rucio's RSE-expression grammar (qos/rse_expressions.py), held against a real Rucio.

Each expression of the table is sent to the test Rucio server (through the gateway's ``list_rses``) and
evaluated by the portal over the attributes of every RSE as Rucio reports them: both must select the same
RSEs, or both refuse it with the same words. No Django database needed.
"""

from __future__ import annotations

import uuid

import pytest

from qos.rse_expressions import PARENTHESES, SYNTAX, InvalidExpression, evaluate
from qos.rucio_gateway import PermanentRucioError, RucioGateway

# {a}, {b}, {c}: three RSEs of the test; {k}: an attribute key of the test's own (no other RSE has it).
VALID = [
    "{k}=SAFE",
    "{k}=SAFE&country=DE",
    "{k}=SAFE|{k}=FAST",
    "{k}=SAFE\\country=DE",
    # One precedence, left to right: (SAFE | FAST) & DE, not SAFE | (FAST & DE).
    "{k}=SAFE|{k}=FAST&country=DE",
    "{k}=SAFE|({k}=FAST&country=DE)",
    "(({k}=SAFE))",
    "({k}=SAFE|{k}=FAST)\\({a}|{b})",
    "*",
    "*\\{a}",
    "{a}",
    "{a}|{b}",
    "{a}>0",  # an RSE's own name is a true attribute, and true counts as 1
    "{k}-tier<2",
    "{k}-tier>1",
    "{k}-tier>-1",  # "x" is no number: left out
    "{k}-tier<x",  # nor is the value compared with
    "{k}-flag=TRUE",  # booleans in any case
    "{k}-flag",  # a bare name: the attribute is true
    "{k}.dotted=yes",
    "{k}=NO-SUCH-CLASS",  # nothing: an empty answer, not an error
    "{k}=SAFE&{k}=FAST",
]
INVALID = [
    ("{k}=SAFE(", PARENTHESES),
    ("({k}=SAFE", PARENTHESES),
    (")({k}=SAFE", PARENTHESES),
    ("{k}!=SAFE", SYNTAX),  # no "not equal" in Rucio's grammar
    ("{k}=SAFE&", SYNTAX),
    ("&{k}=SAFE", SYNTAX),
    ("\\{k}=SAFE", SYNTAX),
    ("{k}-tier<1.5", SYNTAX),  # no decimal point in a value
    ("{k} = SAFE", SYNTAX),
    ("{k}=SAFE.x", SYNTAX),  # no dot in a value
    ("()", SYNTAX),
    ("{k}.dotted", SYNTAX),  # a bare name has no dot
]


@pytest.fixture
def scene(rucio_connection, make_rse, rucio_admin_client):
    """Three RSEs with attributes of this test's own key, and the gateway."""
    key = f"QOSX{uuid.uuid4().hex[:6].upper()}"
    a, b, c = make_rse(), make_rse(), make_rse()
    for rse, attrs in {
        a: {key: "SAFE", "country": "DE", f"{key}-tier": "1", f"{key}-flag": "True", f"{key}.dotted": "yes"},
        b: {key: "SAFE", "country": "FR", f"{key}-tier": "2"},
        c: {key: "FAST", "country": "DE", f"{key}-tier": "x", f"{key}-flag": "false"},
    }.items():
        for attr, value in attrs.items():
            rucio_admin_client.add_rse_attribute(rse, attr, value)
    with RucioGateway(rucio_connection) as gateway:
        yield {"a": a, "b": b, "c": c, "k": key, "gateway": gateway}


@pytest.mark.parametrize("template", VALID)
def test_the_portal_selects_what_rucio_selects(scene, template):
    expression = template.format(**scene)
    gateway = scene["gateway"]
    # Every RSE of the server as Rucio reports it (other tests' RSEs too: "*" selects them).
    attributes = gateway.get_all_rse_attributes()
    assert evaluate(expression, attributes).rses == set(gateway.list_rses(expression))


def test_the_table_selects_what_rucio_is_known_to_select(scene):
    # The table is not vacuous: a few answers spelled out.
    a, b, c, k = scene["a"], scene["b"], scene["c"], scene["k"]
    attributes = scene["gateway"].get_all_rse_attributes()
    assert evaluate(f"{k}=SAFE", attributes).rses == {a, b}
    assert evaluate(f"{k}=SAFE|{k}=FAST&country=DE", attributes).rses == {a, c}
    assert evaluate(f"{k}=SAFE|({k}=FAST&country=DE)", attributes).rses == {a, b, c}
    assert evaluate(f"{k}-tier>-1", attributes).rses == {a, b}
    assert evaluate(f"{k}-flag", attributes).rses == {a}
    assert evaluate(f"{k}=NO-SUCH-CLASS", attributes).rses == frozenset()


@pytest.mark.parametrize(("template", "message"), INVALID)
def test_the_portal_refuses_what_rucio_refuses_with_rucios_words(scene, template, message):
    expression = template.format(**scene)
    with pytest.raises(InvalidExpression) as refused:
        evaluate(expression, {})
    assert str(refused.value) == message
    with pytest.raises(PermanentRucioError) as rucio:
        scene["gateway"].list_rses(expression)
    assert rucio.value.rucio_class == "InvalidRSEExpression"
    assert rucio.value.detail == f"Provided RSE expression is considered invalid. Details: {message}"


def test_rse_properties_are_not_attributes_and_the_portal_says_it_cannot_evaluate_them(scene):
    gateway = scene["gateway"]
    # Rucio compares the RSE's type, which the portal does not read; the test RSEs are disks.
    assert scene["a"] in gateway.list_rses("rse_type=DISK")
    evaluation = evaluate("rse_type=DISK|deterministic", {scene["a"]: {}})
    assert evaluation.unknown_keys == {"rse_type", "deterministic"}
    assert not evaluation.known
    # A value the property cannot have: Rucio refuses it (InvalidObject), with its reason.
    with pytest.raises(PermanentRucioError) as refused:
        gateway.list_rses("rse_type=FOO")
    assert refused.value.rucio_class == "InvalidObject"
    assert "FOO" in refused.value.detail


def test_every_rse_carries_its_own_name_even_when_the_portal_never_read_it():
    assert evaluate("CERN-EOS", {"CERN-EOS": {}, "DESY-DCACHE": {}}).rses == {"CERN-EOS"}
    assert evaluate("*\\CERN-EOS", {"CERN-EOS": {}, "DESY-DCACHE": {}}).rses == {"DESY-DCACHE"}

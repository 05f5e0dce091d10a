"""object_url(): the URL of an object's page, reversed once per URL configuration, is reverse()'s own URL."""

import pytest
from django.urls import clear_script_prefix, reverse, set_script_prefix

from common.urls import object_url

# Each object URL the models build with it, with values of every kind their converters take.
CASES = [
    ("qos:rse-detail", ["CERN-PROD_DATADISK", "rse with space", "é:@~!$&'()*+,;=", "a%2Fb", "x?y#z"]),
    ("qos:instance-detail", ["escape", "dev-2"]),
    ("qos:class-detail", ["SAFE", "FAST-2", "A_B", "0"]),
    ("engagement:experiment-detail", ["ATLAS", "cta-north"]),
    ("engagement:requirement-detail", [1, 42, 10**12]),
    ("meetings:person-detail", [7]),
    ("meetings:meeting-detail", [3]),
    ("meetings:action-detail", [20000]),
]


@pytest.mark.parametrize(("viewname", "values"), CASES)
def test_the_same_url_as_reverse(viewname, values):
    for value in values:
        assert object_url(viewname, value) == reverse(viewname, args=[value])


def test_follows_the_script_prefix():
    set_script_prefix("/portal/")
    try:
        assert (
            object_url("qos:rse-detail", "X")
            == reverse("qos:rse-detail", args=["X"])
            == "/portal/qos/rses/X/"
        )
    finally:
        clear_script_prefix()
    assert object_url("qos:rse-detail", "X") == "/qos/rses/X/"

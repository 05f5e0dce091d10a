"""The RSE expression page (/qos/rse-expression/) and API (/api/v1/rse-expression/), on a real Rucio server.

Rucio's answer is asked of the test server; the portal's is worked out from what it read and pushed. The test
server runs without a cache (scripts/rucio-server), so the answer Rucio's cache would give after a push is
made here as Rucio's cache would make it: the attribute is changed in Rucio behind the portal's back.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from qos.models import RSE, RucioInstance
from qos.rucio_gateway.sync import deliver, sync_rses

pytestmark = pytest.mark.django_db

PAGE = "/qos/rse-expression/"
API = "/api/v1/rse-expression/"


@pytest.fixture
def safe_rses(rucio_instance, make_rse, approved_class, admin):
    """Three RSEs imported from Rucio; the first two carry SAFE, pushed by the portal a moment ago."""
    names = sorted(make_rse() for _ in range(3))
    sync_rses(rucio_instance)
    pushes = RSE.objects.filter(name__in=names[:2]).assign(approved_class, by=admin)
    deliver([push.pk for push in pushes])
    return names


def test_the_page_agrees_with_rucio_for_qos_safe(client_for, member, safe_rses):
    page = client_for(member).get(PAGE, {"expression": "QOS=SAFE"})
    assert page.status_code == 200
    comparison = page.context["comparison"]
    assert comparison.rucio == safe_rses[:2]
    assert comparison.portal == safe_rses[:2]
    assert comparison.agrees
    html = page.content.decode()
    assert "Rucio and the portal agree: 2 RSEs." in html
    assert 'value="QOS=SAFE"' in html  # the form keeps what was typed


def test_the_api_agrees_with_rucio_for_qos_safe(api_for, member, safe_rses):
    answer = api_for(member).get(API, {"expression": "QOS=SAFE", "instance": "test"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["rucio"] == body["portal"] == safe_rses[:2]
    assert body["agrees"] is True
    assert body["differences"] == []
    assert body["instance"] == "test"
    assert set(safe_rses[:2]) <= set(body["recently_pushed"])


def test_a_malformed_expression_shows_rucios_error_and_changes_nothing(
    client_for, api_for, member, safe_rses
):
    page = client_for(member).get(PAGE, {"expression": "QOS=SAFE("})
    assert page.status_code == 200
    html = page.content.decode()
    assert (
        "Rucio refused this expression: Provided RSE expression is considered invalid. Details: Problem with "
        "parentheses." in html
    )
    assert 'value="QOS=SAFE("' in html
    assert page.context["comparison"] is None
    answer = api_for(member).get(API, {"expression": "QOS!=SAFE"})
    assert answer.status_code == 400
    assert answer.json() == {
        "expression": [
            "Rucio refused this expression: Provided RSE expression is considered invalid. Details: Expression "
            "does not comply to RSE Expression syntax"
        ]
    }


def test_no_match_is_an_empty_answer_not_an_error(client_for, api_for, member, safe_rses):
    answer = api_for(member).get(API, {"expression": "QOS=NO-SUCH-CLASS"})
    assert answer.status_code == 200
    assert (answer.json()["rucio"], answer.json()["portal"], answer.json()["agrees"]) == ([], [], True)
    page = client_for(member).get(PAGE, {"expression": "QOS=NO-SUCH-CLASS"})
    assert page.status_code == 200
    assert page.content.decode().count("No RSE matches.") == 2


def test_an_unknown_instance_is_404(client_for, api_for, member, safe_rses):
    assert client_for(member).get(PAGE, {"expression": "QOS=SAFE", "instance": "nowhere"}).status_code == 404
    answer = api_for(member).get(API, {"expression": "QOS=SAFE", "instance": "nowhere"})
    assert answer.status_code == 404
    assert answer.json() == {"detail": "The portal knows no Rucio instance named 'nowhere'."}


def test_with_several_instances_one_must_be_named(client_for, api_for, member, safe_rses):
    RucioInstance.objects.create(name="other", host="https://rucio.other.invalid", env_prefix="RUCIO_OTHER")
    answer = api_for(member).get(API, {"expression": "QOS=SAFE"})
    assert answer.status_code == 400
    assert answer.json() == {
        "instance": ["The portal knows several Rucio instances: name one (other, test)."]
    }
    assert api_for(member).get(API, {"expression": "QOS=SAFE", "instance": "test"}).json()["agrees"] is True
    page = client_for(member).get(PAGE, {"expression": "QOS=SAFE", "instance": "test"})
    assert '<option value="test" selected>' in page.content.decode()


def test_an_empty_expression_is_refused(client_for, api_for, member, safe_rses):
    assert api_for(member).get(API, {"expression": ""}).json() == {
        "expression": ["This field may not be blank."]
    }
    page = client_for(member).get(PAGE, {"expression": ""})
    assert "Type an RSE expression, e.g. QOS=SAFE." in page.content.decode()


def test_rucio_and_the_portal_differ_after_a_change_behind_the_portals_back_and_the_page_flags_it(
    client_for, api_for, member, safe_rses, rucio_admin_client, approved_class, admin
):
    a, b, c = safe_rses
    # What Rucio's cache would answer just after the push: b without SAFE.
    rucio_admin_client.add_rse_attribute(b, "QOS", "FAST")
    body = api_for(member).get(API, {"expression": "QOS=SAFE"}).json()
    assert body["rucio"] == [a]
    assert body["portal"] == [a, b]
    assert body["agrees"] is False
    [difference] = body["differences"]
    assert difference["rse"] == b
    assert (difference["in_rucio"], difference["in_portal"]) == (False, True)
    assert "Rucio may still answer from its cache for up to 15 minutes after a push" in difference["reason"]
    page = client_for(member).get(PAGE, {"expression": "QOS=SAFE"}).content.decode()
    assert "Rucio and the portal differ on 1 RSE." in page
    assert "Rucio may still answer from its cache for up to 10 minutes after a push" in page
    assert f'<td data-label="RSE"><code>{b}</code></td>' in page

    # Long after the push, the same difference is a change the portal has not read yet.
    RSE.objects.filter(name=b).update(last_pushed_at=timezone.now() - timezone.timedelta(hours=1))
    [difference] = api_for(member).get(API, {"expression": "QOS=SAFE"}).json()["differences"]
    assert difference["reason"].startswith("Rucio's attributes changed since the portal last read them")
    # A class assigned but not pushed yet: the portal already selects c, Rucio not yet.
    RSE.objects.filter(name=c).assign(approved_class, by=admin)
    differences = {
        d["rse"]: d for d in api_for(member).get(API, {"expression": "QOS=SAFE"}).json()["differences"]
    }
    assert differences[c]["reason"].startswith("A push to this RSE is waiting to be sent")
    # After a sync the portal knows what Rucio holds: b is drifted, and says so.
    sync_rses(RucioInstance.objects.get(name="test"))
    differences = {
        d["rse"]: d for d in api_for(member).get(API, {"expression": "QOS=SAFE"}).json()["differences"]
    }
    assert differences[b]["reason"] == "Drifted: Rucio holds FAST, the portal wants SAFE."


@pytest.mark.parametrize("role", ["member", "liaison_cta", "coordinator", "admin"])
def test_everyone_who_may_read_rses_may_evaluate(request, client_for, api_for, role, safe_rses):
    user = request.getfixturevalue(role)
    assert client_for(user).get(PAGE, {"expression": "QOS=SAFE"}).status_code == 200
    assert api_for(user).get(API, {"expression": "QOS=SAFE"}).status_code == 200


def test_nobody_else_may(client, client_for, api_for, outsider, safe_rses):
    assert client_for(outsider).get(PAGE, {"expression": "QOS=SAFE"}).status_code == 403
    assert api_for(outsider).get(API, {"expression": "QOS=SAFE"}).status_code == 403
    anonymous = client.get(PAGE, {"expression": "QOS=SAFE"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert client.get(API, {"expression": "QOS=SAFE"}).status_code == 401


def test_the_rse_list_links_to_the_page(client_for, member, safe_rses):
    assert f'href="{PAGE}"' in client_for(member).get("/qos/rses/").content.decode()


def queries_of(client, url, data):
    client.get(url, data)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, data).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", [PAGE, API])
def test_the_number_of_queries_does_not_grow_with_rses(
    client_for, api_for, member, safe_rses, approved_class, url
):
    client = api_for(member) if url == API else client_for(member)
    instance = RucioInstance.objects.get(name="test")
    few = queries_of(client, url, {"expression": "QOS=SAFE"})
    # RSEs the portal believes carry SAFE, which Rucio does not know: each is a difference, with its reason.
    RSE.objects.bulk_create(
        RSE(instance=instance, name=f"SITE-{n:04d}", qos_class=approved_class, sync_state="in_sync")
        for n in range(200)
    )
    assert queries_of(client, url, {"expression": "QOS=SAFE"}) == few


def test_the_page_belongs_to_the_rses_in_the_navigation(client_for, member, safe_rses):
    page = client_for(member).get(PAGE).content.decode()
    assert '<a href="/qos/rses/" aria-current="page">RSEs</a>' in page
    assert '<a href="/qos/" aria-current="page">' not in page


def test_a_disabled_instance_is_not_asked_and_the_portal_answers_alone(api_for, member, safe_rses):
    RucioInstance.objects.filter(name="test").update(enabled=False)
    body = api_for(member).get(API, {"expression": "QOS=SAFE"}).json()
    assert body["rucio"] is None
    assert body["rucio_error"] == "test is disabled in the portal: Rucio is not asked."
    assert body["portal"] == safe_rses[:2]
    assert body["agrees"] is None
    # Without Rucio, the portal's reading of its grammar refuses a malformed expression, and says whose it is.
    refused = api_for(member).get(API, {"expression": "QOS=SAFE("}).json()
    assert refused == {
        "expression": [
            "Not an RSE expression in Rucio's grammar (as the portal reads it; Rucio could not be asked): "
            "Problem with parentheses."
        ]
    }

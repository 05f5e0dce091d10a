"""What a forged or replayed login answer gets: refused with a reason, nobody logged in, nothing created.

The provider is real; it is told to spoil its next ID token (tests/oidc_provider/server.mjs, /_test/tamper),
re-signing it with its own key where the point is that only the portal's checks can catch it.
"""

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

User = get_user_model()


def assert_refused(response, client, reason: str, status: int = 400) -> None:
    assert response.status_code == status, response.content[:500]
    page = response.content.decode()
    assert "The login could not be verified" in page
    assert reason in page
    assert "_auth_user_id" not in client.session
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("signature", "The ID token&#x27;s signature does not match IAM&#x27;s key."),
        ("foreign-key", "The ID token&#x27;s signature does not match IAM&#x27;s key."),
        ("audience", "The ID token was issued for another client, not portal."),
        (
            "issuer",
            "The ID token was issued by &#x27;https://evil.example&#x27;, not by this portal&#x27;s IAM.",
        ),
        ("expired", "The ID token has expired."),
        ("nonce", "The ID token does not answer this login (its nonce differs)."),
    ],
    ids=["signature", "foreign-key", "audience", "issuer", "expired", "nonce"],
)
def test_a_spoilt_id_token_is_refused(iam, client, mode, reason):
    iam.provider.tamper_next_id_token(mode)
    assert_refused(iam.login(client, "ada"), client, reason)


def test_a_replayed_callback_is_refused_in_the_same_browser(iam, client):
    callback = iam.callback_url(client, "ada")
    assert client.get(callback).status_code == 302
    client.logout()
    response = client.get(callback)
    assert response.status_code == 400
    assert (
        "does not belong to a login started in this browser, or it was already used"
        in response.content.decode()
    )
    assert "_auth_user_id" not in client.session


def test_a_callback_replayed_in_another_browser_is_refused(iam, client):
    callback = iam.callback_url(client, "ada")
    other = Client()
    response = other.get(callback)
    assert response.status_code == 400
    assert "_auth_user_id" not in other.session
    assert not User.objects.exists()


def test_a_callback_with_a_state_this_browser_never_sent_is_refused(iam, client):
    callback = iam.callback_url(client, "ada")
    iam.start(client)  # a second login started: the session now knows two states, neither is "forged"
    forged = callback.replace("state=", "state=x")
    response = client.get(forged)
    assert response.status_code == 400
    assert not User.objects.exists()


def test_a_code_used_twice_is_refused_by_iam_itself(iam, client):
    callback = iam.callback_url(client, "ada")
    state = callback.split("state=")[1].split("&")[0]
    nonce = client.session["oidc_states"][state]
    assert client.get(callback).status_code == 302
    client.logout()
    # Put the state back as if the attacker had it: the provider still refuses the spent code.
    session = client.session
    session["oidc_states"] = {state: nonce}
    session.save()
    response = client.get(callback)
    assert response.status_code == 502
    assert "IAM refused to complete the login (HTTP 400)" in response.content.decode()


def test_an_answer_naming_another_issuer_is_refused(iam, client):
    # RFC 9207: the provider names itself in its answer (`iss`); a mixed-up answer names another.
    callback = urlsplit(iam.callback_url(client, "ada"))
    params = parse_qs(callback.query)
    assert params["iss"] == [iam.provider.issuer]
    params["iss"] = ["https://evil.example"]
    response = client.get(callback.path, {key: values[0] for key, values in params.items()})
    assert response.status_code == 400
    assert (
        "came from &#x27;https://evil.example&#x27;, not from this portal&#x27;s IAM"
        in response.content.decode()
    )
    assert not User.objects.exists()
    assert "not from this portal&#x27;s IAM" in response.content.decode()


def test_refusals_are_logged_without_tokens(iam, client, caplog):
    iam.provider.tamper_next_id_token("audience")
    callback = iam.callback_url(client, "ada")
    code = callback.split("code=")[1].split("&")[0]
    with caplog.at_level(logging.DEBUG):
        client.get(callback)
    assert "issued for another client" in caplog.text
    assert code not in caplog.text
    assert "eyJ" not in caplog.text  # no JWT (ID token) in any log line
    assert iam.provider.client_secret not in caplog.text

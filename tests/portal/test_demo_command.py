"""README command (1): scripts/run serves the demo catalogue on the URL it prints, with logins that work: the
local accounts', and the IAM login through the local OpenID provider it starts, whose users get their roles."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.ports import free_port_below_ephemeral_range

ROOT = Path(__file__).resolve().parents[2]


def log_in_through_iam(
    session: requests.Session, url: str, username: str, password: str
) -> requests.Response:
    """Follow "Log in with ESCAPE IAM (demo)" from the login page, sign in at the provider, and come back."""
    login_page = session.get(f"{url}accounts/login/?next=/account/", timeout=10)
    link = re.search(
        r'<a class="button primary" href="([^"]+)">Log in with ESCAPE IAM \(demo\)</a>', login_page.text
    )
    assert link, login_page.text
    at_provider = session.get(urljoin(login_page.url, link.group(1).replace("&amp;", "&")), timeout=10)
    action = re.search(r'action="([^"]+)"', at_provider.text).group(1)
    return session.post(
        urljoin(at_provider.url, action), data={"username": username, "password": password}, timeout=10
    )


def test_run_command_serves_the_demo_on_the_printed_url(tmp_path):
    port, provider_port = free_port_below_ephemeral_range(), free_port_below_ephemeral_range()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "DATABASE_URL"}
    }
    env.update(
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/demo.sqlite3",
        RUCIO_SERVER_PORT=str(free_port_below_ephemeral_range()),
        RUCIO_SERVER_DIR=str(tmp_path / "rucio"),
        OIDC_PROVIDER_PORT=str(provider_port),
        OIDC_PROVIDER_DIR=str(tmp_path / "oidc-provider"),
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
    )
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["scripts/run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = logins = iam_logins = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            text = log.read_text()
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", text)
            if match and "Quit the server" in text:
                url = match.group(1)
                logins = dict(re.findall(r"^  (\S+)\s+(\S+)$", text, flags=re.MULTILINE))
                iam_logins = {
                    name: (password, role)
                    for name, password, role in re.findall(
                        r"^    (\w+)\s+(\S+)\s+(QoS admin|liaison of CTA|member)\s", text, flags=re.MULTILINE
                    )
                }
                break
            time.sleep(0.5)
        assert url == f"http://127.0.0.1:{port}/", log.read_text()
        session = requests.Session()
        login_page = session.get(f"{url}accounts/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
        response = session.post(
            f"{url}accounts/login/",
            data={"username": "member", "password": logins["member"], "csrfmiddlewaretoken": token},
            headers={"Referer": f"{url}accounts/login/"},
            timeout=10,
        )
        assert response.url == url
        catalogue = session.get(f"{url}qos/", timeout=10).text
        for label in ("SAFE", "CHEAP-ANALYSIS", "FAST", "OPPORTUNISTIC"):
            assert label in catalogue
        # Mail is written to files, and the command says where.
        assert f"Mail: not sent; each mail is written to {tmp_path / 'mail'}/" in log.read_text()
        # The local Rucio server's RSEs were imported, and probed through their posix storage at start: every
        # verdict shows, and CERN-EOS (FAST on a local disk) has its charts.
        rse_list = session.get(f"{url}qos/rses/", timeout=10).text
        assert "CERN-EOS" in rse_list
        for verdict in ("violating", "conforming", "unreachable", "unknown"):
            assert f'class="badge verdict-{verdict}"' in rse_list, verdict
        cern = session.get(f"{url}qos/rses/CERN-EOS/", timeout=10).text
        assert "FAST promises 2,000 MB/s" in cern and cern.count("<svg") == 2

        # "Log in with IAM" works out of the box, and the IAM groups of the printed users give their roles.
        assert f"a local OpenID provider at\n  http://127.0.0.1:{provider_port}" in log.read_text()
        assert {role for _, role in iam_logins.values()} == {"QoS admin", "liaison of CTA", "member"}
        liaison = next(name for name, (_, role) in iam_logins.items() if role == "liaison of CTA")
        with requests.Session() as iam_session:
            account = log_in_through_iam(iam_session, url, liaison, iam_logins[liaison][0])
            assert account.url == f"{url}account/", account.text[:500]
            assert "Experiment liaison of CTA" in account.text
        admin = next(name for name, (_, role) in iam_logins.items() if role == "QoS admin")
        with requests.Session() as iam_session:
            log_in_through_iam(iam_session, url, admin, iam_logins[admin][0])
            assert iam_session.get(f"{url}qos/new/", timeout=10).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    # The command stops the provider it started.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", provider_port)) != 0


def test_the_provider_script_refuses_a_wait_that_is_not_a_number_and_starts_nothing(tmp_path):
    port = free_port_below_ephemeral_range()
    env = {
        **os.environ,
        "OIDC_PROVIDER_DIR": str(tmp_path / "oidc-provider"),
        "OIDC_PROVIDER_PORT": str(port),
        "OIDC_PROVIDER_START_WAIT": "20s",
    }
    run = subprocess.run(
        ["scripts/oidc-provider", "start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1
    assert run.stdout == ""  # no settings for the portal
    assert "OIDC_PROVIDER_START_WAIT must be a whole number of seconds, not '20s'" in run.stderr
    assert not (tmp_path / "oidc-provider" / "provider.pid").exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens

"""README command (1): scripts/run serves the demo catalogue on the URL it prints, with logins that work."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_command_serves_the_demo_on_the_printed_url(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "DATABASE_URL"}
    }
    env.update(
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/demo.sqlite3",
        RUCIO_SERVER_PORT=str(free_port()),
        RUCIO_SERVER_DIR=str(tmp_path / "rucio"),
    )
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["scripts/run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = logins = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            text = log.read_text()
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", text)
            if match and "Quit the server" in text:
                url = match.group(1)
                logins = dict(re.findall(r"^  (\S+)\s+(\S+)$", text, flags=re.MULTILINE))
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
        # The local Rucio server's RSEs were imported.
        assert "CERN-EOS" in session.get(f"{url}qos/rses/", timeout=10).text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)

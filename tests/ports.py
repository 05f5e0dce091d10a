"""Ports on 127.0.0.1 for the servers the tests start (Redis, SMTP, Rucio, the OIDC provider, the stack ...)."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on just now. It may be taken before it is used: a server of the tests binds it
    at once, or retries on another one; an address that must refuse connections uses it as it is."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_below_ephemeral_range() -> int:
    """A free port below the kernel's range for outgoing connections, for a server that binds it minutes
    after it is chosen. A port the kernel hands out for bind(0) is in that range, where any outgoing
    connection made meanwhile could take it first ("That port is already in use", seen once in CI)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(10_000, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between 10000 and {low}")

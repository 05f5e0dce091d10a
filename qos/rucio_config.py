"""Where each Rucio instance connects, and as whom: the deployment's environment, never the database.

Whoever may choose an instance's server may have the portal send it the instance's credentials (a userpass
login sends the password in a header). So an instance's server, auth server, account, auth type and CA bundle
are environment variables with the same prefix as its credentials, read together with them, and the
credentials go only to the server configured beside them:

* the default instance: ``RUCIO_HOST``, ``RUCIO_AUTH_HOST``, ``RUCIO_ACCOUNT``, ``RUCIO_AUTH_TYPE``,
  ``RUCIO_CA_CERT``, ``RUCIO_INSTANCE_NAME``, and its credentials ``RUCIO_USERNAME``, ``RUCIO_PASSWORD``, ...;
* one more per name in ``RUCIO_INSTANCES`` (comma-separated, e.g. ``ESCAPE,TESTBED``): the same variables
  with the prefix ``RUCIO_ESCAPE``, ``RUCIO_TESTBED``.

Any of them may instead name a file in ``<VARIABLE>_FILE``. A :class:`qos.models.RucioInstance` row mirrors
this for pages and the API (``RucioInstance.objects.from_environment()``); the portal does not connect for a
row that differs. Plain ``http://`` is refused unless ``RUCIO_ALLOW_INSECURE_HTTP=1`` (a Rucio on the
loopback: the tests, the demo).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .choices import AuthType

DEFAULT_PREFIX = "RUCIO"
DEFAULT_INSTANCE_NAME = "default"
# The suffixes read with an instance's prefix (each also as <VARIABLE>_FILE).
CONNECTION_VARIABLES = ("HOST", "AUTH_HOST", "ACCOUNT", "AUTH_TYPE", "CA_CERT", "INSTANCE_NAME")
CREDENTIAL_VARIABLES = ("USERNAME", "PASSWORD", "CLIENT_CERT", "CLIENT_KEY", "TOKEN")
_INSTANCE_KEY = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
_INSTANCE_NAME = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")
_TRUE = {"1", "true", "yes", "on"}


def variable(name: str) -> str:
    """``$NAME``, or the stripped content of the file named by ``$NAME_FILE``; empty when neither is set."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text(encoding="utf-8").strip()
    return os.environ.get(name, "")


def insecure_http_allowed() -> bool:
    """``RUCIO_ALLOW_INSECURE_HTTP``: credentials may travel in clear (a Rucio on the loopback only)."""
    return variable("RUCIO_ALLOW_INSECURE_HTTP").lower() in _TRUE


@dataclass(frozen=True)
class ConfiguredInstance:
    """A Rucio instance as the environment describes it; ``env_prefix`` also names its credentials."""

    env_prefix: str
    name: str
    host: str
    auth_host: str
    account: str
    auth_type: str
    ca_bundle: str

    def problems(self) -> list[str]:
        """What keeps the portal from sending credentials to this instance, as sentences; empty if nothing."""
        found = []
        # An auth host that is the server's (AUTH_HOST unset) would only repeat the server's problem.
        urls = [("HOST", self.host)] + (
            [("AUTH_HOST", self.auth_host)] if self.auth_host != self.host else []
        )
        for suffix, url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                found.append(f"{self.env_prefix}_{suffix} is not an https:// URL of a Rucio server.")
            elif parts.scheme == "http" and not insecure_http_allowed():
                found.append(
                    f"{self.env_prefix}_{suffix} is a plain http:// URL: the instance's credentials would "
                    "travel in clear. Give an https:// URL (RUCIO_ALLOW_INSECURE_HTTP=1 allows http for a "
                    "Rucio on this machine, as in the tests and the demo)."
                )
        if self.auth_type not in AuthType.values:
            found.append(
                f"{self.env_prefix}_AUTH_TYPE is {self.auth_type!r}: give one of {', '.join(AuthType.values)}."
            )
        if not _INSTANCE_NAME.match(self.name):
            found.append(
                f"{self.env_prefix}_INSTANCE_NAME is {self.name!r}: give letters, digits, '-' and '_' only "
                "(at most 64)."
            )
        return found


def _listed() -> list[str]:
    return [item.strip() for item in variable("RUCIO_INSTANCES").split(",") if item.strip()]


def _key(env_prefix: str) -> str:
    """ESCAPE for RUCIO_ESCAPE: the name RUCIO_INSTANCES gives the instance."""
    return env_prefix.removeprefix(f"{DEFAULT_PREFIX}_")


def instance_prefixes() -> list[str]:
    """The prefix of the default instance (when RUCIO_HOST is set), then one per name in RUCIO_INSTANCES."""
    default = [DEFAULT_PREFIX] if variable("RUCIO_HOST") else []
    return list(dict.fromkeys(default + [f"{DEFAULT_PREFIX}_{key}" for key in _listed()]))


def configured_instance(env_prefix: str) -> ConfiguredInstance | None:
    """The instance the environment describes with this prefix; None when it describes none."""
    if env_prefix not in instance_prefixes():
        return None
    host = variable(f"{env_prefix}_HOST")
    default_name = (
        DEFAULT_INSTANCE_NAME if env_prefix == DEFAULT_PREFIX else _key(env_prefix).lower().replace("_", "-")
    )
    return ConfiguredInstance(
        env_prefix=env_prefix,
        name=variable(f"{env_prefix}_INSTANCE_NAME") or default_name,
        host=host,
        auth_host=variable(f"{env_prefix}_AUTH_HOST") or host,
        account=variable(f"{env_prefix}_ACCOUNT") or "root",
        auth_type=variable(f"{env_prefix}_AUTH_TYPE") or AuthType.USERPASS,
        ca_bundle=variable(f"{env_prefix}_CA_CERT"),
    )


def configured_instances() -> list[ConfiguredInstance]:
    """Every instance the environment describes, the default one first."""
    return [configured_instance(prefix) for prefix in instance_prefixes()]


def configuration_problems() -> list[str]:
    """What is wrong with the environment's Rucio instances, as sentences (system check qos.E001)."""
    listed = _listed()
    found = [
        f"RUCIO_INSTANCES names {key!r}: give upper case letters, digits and '_', e.g. ESCAPE."
        for key in listed
        if not _INSTANCE_KEY.match(key)
    ]
    if found:
        return found
    found.extend(_shared_variables([DEFAULT_PREFIX, *(f"{DEFAULT_PREFIX}_{key}" for key in listed)]))
    names: dict[str, str] = {}
    for instance in configured_instances():
        if not instance.host:
            found.append(
                f"RUCIO_INSTANCES names {_key(instance.env_prefix)} but {instance.env_prefix}_HOST is not set."
            )
            continue
        found.extend(instance.problems())
        if instance.name in names:
            found.append(
                f"{names[instance.name]} and {instance.env_prefix} both name their instance {instance.name!r}: "
                f"set {instance.env_prefix}_INSTANCE_NAME."
            )
        names[instance.name] = instance.env_prefix
    return found


def _shared_variables(prefixes: list[str]) -> list[str]:
    """A variable two instances would read (RUCIO_AUTH_HOST: the default's auth server, or AUTH's server)."""
    owners: dict[str, str] = {}
    found = []
    for prefix in dict.fromkeys(prefixes):
        for suffix in CONNECTION_VARIABLES + CREDENTIAL_VARIABLES:
            name = f"{prefix}_{suffix}"
            if name in owners:
                found.append(
                    f"{name} would be read by both {owners[name]} and {prefix}: rename {_key(prefix)} in "
                    "RUCIO_INSTANCES."
                )
            owners.setdefault(name, prefix)
    return found

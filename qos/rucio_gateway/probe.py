"""Probing an RSE the way a user's data reaches it: upload a small file through Rucio, read it back, delete it.

Everything goes through rucio-clients' own ``UploadClient`` and ``DownloadClient`` (the checksum of the file read
back is verified by Rucio's client) on the gateway's already logged-in ``Client``: no ``rucio.cfg`` and no other
token cache. Real endpoints use davs/root through gfal2 where it is installed; the tests and the demo use Rucio's
posix protocol on local directories.

Quirks of rucio-clients 41.5 handled here:

* The transfer code outside ``Client`` (``rsemanager``'s RSE lookup, the deterministic path translation) builds
  its own clients or reads ``rucio.cfg``. The gateway puts the RSE's description, read with its own client, into
  ``rsemanager``'s cache before each transfer, and when the process has no ``rucio.cfg`` gives the library an
  empty configuration (so every option falls back to the library's default; no credential is ever in it).
* ``UploadClient(tracing=False)`` calls its ``logger`` argument itself: it gets a callable logger adapter.
* Rucio lets no account delete a replica (``delete_replicas`` is refused even to root): its daemons do (the
  judge-cleaner, the reaper, the undertaker). The probe deletes the file on the storage itself (through the RSE's
  delete protocol), deletes its rule with ``purge_replicas`` and marks the replica unavailable, so that nobody is
  ever sent to it; the rule and the file's DID carry the probe's short lifetime in any case.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import logging
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from rucio.client.client import Client
from rucio.client.downloadclient import DownloadClient
from rucio.client.uploadclient import UploadClient
from rucio.common import config as rucio_config
from rucio.common import exception as rexc
from rucio.rse import rsemanager

from .client import PermanentRucioError, RucioGateway, _check_name

logger = logging.getLogger(__name__)

MB = 1_000_000  # decimal megabytes, as throughput targets (MB/s) are written
PROBE_NAME_PREFIX = "qos-probe"
# rsemanager's RSE cache and the library's configuration are process-wide: one transfer at a time per process.
_transfer_lock = threading.Lock()


class ProbeNotPossible(PermanentRucioError):
    """The RSE cannot be probed as configured (no write protocol, no quota, no probe scope): what to set is said."""


@dataclass(frozen=True)
class ProbeTimings:
    """What one probe measured. Throughputs in decimal MB/s; latency: the whole read of the small file."""

    rse: str
    did: str
    size_bytes: int
    write_seconds: float
    read_seconds: float
    cleaned_leftovers: int = 0

    @property
    def write_mbps(self) -> float:
        return self.size_bytes / MB / max(self.write_seconds, 1e-6)

    @property
    def read_mbps(self) -> float:
        return self.size_bytes / MB / max(self.read_seconds, 1e-6)

    @property
    def latency_seconds(self) -> float:
        return self.read_seconds


class _CallableLog(logging.LoggerAdapter):
    """A logger the upload and download clients can both call and use as a logger. Everything they say goes to
    DEBUG (a failing RSE gets one line from the task, not a storm); warnings are kept to explain a failure."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("qos.rucio_gateway.transfer"), {})
        self.warnings: list[str] = []

    def __call__(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self.log(level, msg, *args, **kwargs)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(TypeError, ValueError):
            text = str(msg) % args if args else str(msg)
            # Warnings, and the exception behind a failed transfer (which UploadClient logs at INFO).
            if level >= logging.WARNING or text.startswith("Exception: "):
                self.warnings.append(" ".join(text.split()))
        kwargs.pop("exc_info", None)
        super().log(logging.DEBUG, msg, *args, **kwargs)


def _ensure_library_config() -> None:
    """Give rucio-clients' transfer code an empty configuration when the process has no ``rucio.cfg``."""
    try:
        rucio_config.get_config()
    except rexc.ConfigNotFound:
        empty = configparser.ConfigParser()
        # Sections present, options absent: the library's callers expect NoOptionError for "not set" (a
        # missing section they take for a broken file in places, e.g. Client's request_retries).
        for section in ("client", "common", "policy", "upload", "download", "trace"):
            empty.add_section(section)
        rucio_config.get_config = functools.cache(lambda: empty)


def _write_protocol(info: dict[str, Any]) -> bool:
    return any(
        (domain or {}).get(operation)
        for protocol in info.get("protocols") or ()
        for domain in (protocol.get("domains") or {}).values()
        for operation in ("write",)
    )


def _quota_allows(limit: object, size_bytes: int) -> bool:
    # Rucio answers infinity for "no limit" (set as -1), None where no limit is set at all: no quota.
    if limit is None:
        return False
    limit = float(limit)  # type: ignore[arg-type]
    return limit < 0 or limit >= size_bytes


class RSEProbe:
    """A probe of one RSE through a gateway: ``run()`` cleans what an earlier probe left, uploads, reads, deletes."""

    def __init__(
        self, gateway: RucioGateway, rse: str, *, scope: str, size_bytes: int, lifetime_seconds: int
    ) -> None:
        _check_name("RSE name", rse)
        _check_name("scope", scope)
        if size_bytes < 1:
            raise ValueError("a probe file needs at least one byte")
        self.gateway = gateway
        self.rse = rse
        self.scope = scope
        self.size_bytes = size_bytes
        self.lifetime_seconds = max(60, lifetime_seconds)
        self._log = _CallableLog()

    def run(self) -> ProbeTimings:
        """Probe the RSE. Raises ProbeNotPossible (what to configure), or Transient/PermanentRucioError."""
        try:
            return self.gateway._call(f"probe of RSE {self.rse}", self._run)
        except PermanentRucioError as error:
            # NoFilesUploaded says only that: what the transfer clients logged says why.
            said = [text for text in dict.fromkeys(self._log.warnings) if text not in error.message]
            if said:
                error.message = f"{error.message} ({'; '.join(said)[:500]})"
                error.args = (error.message,)
            raise

    def clean_leftovers(self) -> int:
        """Delete the files earlier probes of this RSE left (a worker killed mid-probe); how many."""
        return self.gateway._call(f"clean-up of earlier probes of RSE {self.rse}", self._clean_leftovers)

    # ---------------------------------------------------------------- steps

    def _run(self, client: Client) -> ProbeTimings:
        info = client.get_rse(self.rse)
        self._check_probeable(client, info)
        cleaned = self._clean_leftovers(client, info)
        name = f"{PROBE_NAME_PREFIX}.{self.rse}.{time.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory(prefix="qos-probe-") as work, _transfer_lock:
            _ensure_library_config()
            source = os.path.join(work, "up", name)
            os.makedirs(os.path.dirname(source))
            with open(source, "wb") as fh:
                fh.write(os.urandom(self.size_bytes))
            self._prime_rse_cache(client, info)
            try:
                started = time.monotonic()
                UploadClient(client, logger=self._log, tracing=False).upload(
                    [
                        {
                            "path": source,
                            "rse": self.rse,
                            "did_scope": self.scope,
                            "did_name": name,
                            "lifetime": self.lifetime_seconds,
                            # Registered before the transfer: a probe killed mid-upload leaves a rule the
                            # next probe finds and cleans.
                            "register_after_upload": False,
                        }
                    ]
                )
                write_seconds = time.monotonic() - started
                started = time.monotonic()
                results = DownloadClient(client, logger=self._log, tracing=False).download_dids(
                    [
                        {
                            "did": f"{self.scope}:{name}",
                            "base_dir": os.path.join(work, "down"),
                            "rse": self.rse,
                            "no_subdir": True,
                        }
                    ]
                )
                read_seconds = time.monotonic() - started
                state = str(results[0].get("clientState", "")) if results else ""
                if not state.endswith("DONE"):
                    raise PermanentRucioError(
                        f"probe of RSE {self.rse}: the file written could not be read back ({state or 'no result'})",
                        rucio_class="DownloadFailed",
                    )
            except BaseException:
                # The probe's own file goes all the same (a failed upload may have left a registration); a
                # fault of that clean-up must not hide the probe's, and the next probe finds what is left.
                try:
                    self._delete(client, info, name)
                except Exception as error:  # the probe's own fault is the one to report
                    logger.warning(
                        "Probe of %s: its file %s is left for the next probe: %s", self.rse, name, error
                    )
                raise
            self._delete(client, info, name)
        return ProbeTimings(
            rse=self.rse,
            did=f"{self.scope}:{name}",
            size_bytes=self.size_bytes,
            write_seconds=write_seconds,
            read_seconds=read_seconds,
            cleaned_leftovers=cleaned,
        )

    def _check_probeable(self, client: Client, info: dict[str, Any]) -> None:
        account = self.gateway.conn.account
        if not _write_protocol(info):
            raise ProbeNotPossible(
                f"RSE {self.rse} has no protocol that allows writing: add one (davs, root or, for a local "
                "directory, posix) with a write priority in Rucio",
                rucio_class="NoWriteProtocol",
            )
        if self.scope not in client.list_scopes():
            raise ProbeNotPossible(
                f"the probe scope {self.scope!r} does not exist in Rucio: create it for account {account} "
                f"(rucio-admin scope add --account {account} --scope {self.scope})",
                rucio_class="ScopeNotFound",
            )
        limit = client.get_local_account_limit(account, self.rse).get(self.rse)
        if not _quota_allows(limit, self.size_bytes):
            raise ProbeNotPossible(
                f"account {account} has no quota on RSE {self.rse} for a probe file of {self.size_bytes} "
                f"bytes: set one (rucio-admin account set-limits {account} {self.rse} -1 for none)",
                rucio_class="NoQuota",
            )

    def _clean_leftovers(self, client: Client, info: dict[str, Any] | None = None) -> int:
        if info is None:
            info = client.get_rse(self.rse)
        # Rules of this account in the probe scope on this RSE that were never deleted: their probe died.
        rules = client.list_replication_rules(
            {"scope": self.scope, "account": self.gateway.conn.account, "rse_expression": self.rse}
        )
        left = [
            rule["name"]
            for rule in rules
            if not rule.get("purge_replicas") and str(rule.get("name", "")).startswith(PROBE_NAME_PREFIX)
        ]
        if not left:
            return 0
        with _transfer_lock:
            _ensure_library_config()
            for name in left:
                self._delete(client, info, name)
        logger.info("Probe of %s: removed %s file(s) an earlier probe left", self.rse, len(left))
        return len(left)

    def _prime_rse_cache(self, client: Client, info: dict[str, Any]) -> None:
        # rsemanager would otherwise ask a client of its own, built from rucio.cfg (see the module's docstring).
        rsemanager.RSE_REGION.set(f"rse_info_{self.rse}:{client.vo}", info)

    def _delete(self, client: Client, info: dict[str, Any], name: str) -> None:
        """Remove one probe file: from the storage, its rule (purging the replica), the replica marked gone."""
        did = {"scope": self.scope, "name": name}
        self._prime_rse_cache(client, info)
        with contextlib.suppress(rexc.SourceNotFound):  # never written, or already deleted
            rsemanager.delete(info, [did], logger=self._log)
        try:
            rules = list(client.list_did_rules(self.scope, name))
        except rexc.DataIdentifierNotFound:  # the upload failed before it registered the file
            return
        for rule in rules:
            if not rule.get("purge_replicas"):
                with contextlib.suppress(rexc.RuleNotFound):
                    client.delete_replication_rule(rule["id"], purge_replicas=True)
        with contextlib.suppress(rexc.ReplicaNotFound, rexc.DataIdentifierNotFound):
            client.update_replicas_states(self.rse, [{**did, "state": "U"}])

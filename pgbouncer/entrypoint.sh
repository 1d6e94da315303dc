#!/bin/sh
# Hearth: start PgBouncer with the repo's pgbouncer.ini.
#
# Writes the auth file named by the config's auth_file (mode 600) with one user whose password is in
# plain text: PgBouncer then does SCRAM both with the client and with PostgreSQL. The user and
# password come from DB_USER/DB_PASSWORD, else POSTGRES_USER/POSTGRES_PASSWORD. With neither, an
# existing (mounted) auth file is used as it is.
#
# Then execs PgBouncer in the foreground (logs to stderr); extra arguments are passed to it.
#
# Environment (all optional):
#   PGBOUNCER_CONFIG     config file        (default /etc/pgbouncer/pgbouncer.ini)
#   PGBOUNCER_AUTH_FILE  auth file to write (default: the config's auth_file)
#   PGBOUNCER_BIN        pgbouncer binary   (default: pgbouncer on PATH, /usr/sbin or /usr/bin)
#
# Works in the container and natively (scripts/test-stack.sh runs it as user postgres:
# PgBouncer refuses to run as root).
set -eu

log() { echo "pgbouncer-entrypoint: $*" >&2; }

config="${PGBOUNCER_CONFIG:-/etc/pgbouncer/pgbouncer.ini}"
if [ ! -r "$config" ]; then
    log "cannot read the config $config"
    exit 1
fi

auth_file="${PGBOUNCER_AUTH_FILE:-}"
if [ -z "$auth_file" ]; then
    auth_file="$(sed -n 's/^[[:space:]]*auth_file[[:space:]]*=[[:space:]]*\([^[:space:];]*\).*$/\1/p' "$config" | tail -n 1)"
fi
if [ -z "$auth_file" ]; then
    log "the config $config names no auth_file and PGBOUNCER_AUTH_FILE is unset"
    exit 1
fi

user="${DB_USER:-${POSTGRES_USER:-}}"
password="${DB_PASSWORD:-${POSTGRES_PASSWORD:-}}"

if [ -n "$user" ] && [ -n "$password" ]; then
    # userlist.txt quoting: a double quote inside a value is written twice.
    q_user="$(printf '%s' "$user" | sed 's/"/""/g')"
    q_password="$(printf '%s' "$password" | sed 's/"/""/g')"
    umask 077
    mkdir -p "$(dirname "$auth_file")"
    tmp="$auth_file.tmp.$$"
    printf '"%s" "%s"\n' "$q_user" "$q_password" > "$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$auth_file"
    log "wrote $auth_file for user $user"
elif [ -s "$auth_file" ]; then
    log "no DB_USER/DB_PASSWORD (or POSTGRES_USER/POSTGRES_PASSWORD); using the existing $auth_file"
else
    log "set DB_USER and DB_PASSWORD (or POSTGRES_USER and POSTGRES_PASSWORD), or mount $auth_file"
    exit 1
fi

bin="${PGBOUNCER_BIN:-}"
if [ -z "$bin" ]; then
    bin="$(command -v pgbouncer 2>/dev/null || true)"
    for candidate in /usr/sbin/pgbouncer /usr/bin/pgbouncer /usr/local/bin/pgbouncer; do
        [ -n "$bin" ] && break
        [ -x "$candidate" ] && bin="$candidate"
    done
fi
if [ -z "$bin" ]; then
    log "pgbouncer binary not found"
    exit 1
fi

# An image's default command (`pgbouncer /etc/pgbouncer/pgbouncer.ini`) passed through: drop it.
case "${1:-}" in
    pgbouncer | */pgbouncer) set -- ;;
esac

exec "$bin" "$@" "$config"

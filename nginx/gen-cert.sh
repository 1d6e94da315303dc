#!/bin/sh
# Hearth: make sure nginx has a TLS certificate.
#
# If CERT_DIR (default /etc/nginx/certs) already holds tls.crt and tls.key (a real certificate you
# mounted), nothing is done. Otherwise a self-signed certificate is generated: EC P-256, 825 days,
# CN and subjectAltName from TLS_HOSTNAME (default localhost) plus IP:127.0.0.1.
#
# Runs as a /docker-entrypoint.d/ script of the nginx image and natively (scripts/test-stack.sh).
# POSIX sh; needs openssl.
set -eu

CERT_DIR="${CERT_DIR:-/etc/nginx/certs}"
TLS_HOSTNAME="${TLS_HOSTNAME:-localhost}"
CERT_DAYS="${CERT_DAYS:-825}"

crt="$CERT_DIR/tls.crt"
key="$CERT_DIR/tls.key"

log() { echo "gen-cert: $*" >&2; }

if [ -s "$crt" ] && [ -s "$key" ]; then
    log "using the existing certificate in $CERT_DIR"
    exit 0
fi

if ! command -v openssl >/dev/null 2>&1; then
    log "openssl is not installed and $CERT_DIR has no tls.crt/tls.key" 
    exit 1
fi

mkdir -p "$CERT_DIR"

# One generator at a time (two containers or test runs sharing a directory).
lock="$CERT_DIR/.gen-cert.lock"
tries=0
until mkdir "$lock" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        log "could not take $lock (remove it if no generator is running)"
        exit 1
    fi
    sleep 1
done
work=""
cleanup() {
    [ -n "$work" ] && rm -rf "$work"
    rmdir "$lock" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Another generator may have finished while we waited.
if [ -s "$crt" ] && [ -s "$key" ]; then
    log "using the existing certificate in $CERT_DIR"
    exit 0
fi

if [ -e "$crt" ] || [ -e "$key" ]; then
    log "only one of tls.crt / tls.key is in $CERT_DIR; refusing to overwrite it"
    exit 1
fi

# subjectAltName: the host name (an IP literal becomes an IP entry), plus loopback.
case "$TLS_HOSTNAME" in
    *[!0-9.]*) case "$TLS_HOSTNAME" in
                   *:*) san="IP:$TLS_HOSTNAME" ;;
                   *) san="DNS:$TLS_HOSTNAME" ;;
               esac ;;
    *) san="IP:$TLS_HOSTNAME" ;;
esac
[ "$san" = "IP:127.0.0.1" ] || san="$san,IP:127.0.0.1"

work="$(mktemp -d "$CERT_DIR/.gen-cert.XXXXXX")"
umask 077
openssl req -x509 -nodes \
    -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -days "$CERT_DAYS" \
    -subj "/CN=$TLS_HOSTNAME" \
    -addext "subjectAltName=$san" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1 || {
        log "openssl failed to generate a certificate"
        exit 1
    }
chmod 600 "$work/tls.key"
chmod 644 "$work/tls.crt"

# Each rename is atomic; the key goes first so that a visible tls.crt always has its key.
mv -f "$work/tls.key" "$key"
mv -f "$work/tls.crt" "$crt"
log "generated a self-signed certificate for $TLS_HOSTNAME ($san) in $CERT_DIR"
